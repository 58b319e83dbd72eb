"""The Parsl backend: site pools become executors, plan tasks become apps."""
