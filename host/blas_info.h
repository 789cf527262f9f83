/* Which BLAS kedit runs on the CPU and with which kernel, for `kedit --version` and every results file. */
#ifndef KEDIT_BLAS_INFO_H
#define KEDIT_BLAS_INFO_H

/* e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64; kernel Haswell; 2 threads" */
const char *blas_description(void);

#endif
