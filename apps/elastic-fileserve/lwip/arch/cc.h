/* SPDX-License-Identifier: BSD-3-Clause */
/* lwIP's compiler/platform port for elastic-fileserve (Linux, GCC, 64-bit little endian). */
#ifndef ELASTIC_FILESERVE_ARCH_CC_H
#define ELASTIC_FILESERVE_ARCH_CC_H

#include <stdio.h>
#include <stdlib.h>

#define LWIP_ERRNO_STDINCLUDE 1
/* Random local ports and ISNs: rand() is enough for a prototype in a private namespace. */
#define LWIP_RAND() ((u32_t)rand())

#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
/* An lwIP assertion is a bug of ours or of lwIP's: say where and stop. */
#define LWIP_PLATFORM_ASSERT(x) do { \
	fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", x, __FILE__, __LINE__); \
	abort(); \
} while (0)

#endif /* ELASTIC_FILESERVE_ARCH_CC_H */
