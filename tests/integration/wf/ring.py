import os


def ring(n=10, context=None):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    total = comm.allreduce(rank, op=MPI.SUM)
    devs = comm.gather(os.environ.get("CUDA_VISIBLE_DEVICES"), root=0)
    return {"size": size, "sum": total, "n": n, "rank0_context_rank": context.get("rank"), "devices": devs}
