import sys

from benchmarks.threads import pin, threads_from_argv

pin(threads_from_argv(sys.argv[1:]))  # before NumPy loads its BLAS

from benchmarks.run import main  # noqa: E402

main()
