/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The public headers compile as C11 (this file is built with c_std=c11 and -Wpedantic) and the
 * C API works from a C program linked to libelasticpool.so: create, allocate, free, refuse bad
 * input with the documented errno, free the pool. No EAL (heap provider).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <elastic_mempool.h>
#include <elastic_numa.h>
#include <elasticpool.h>

static int failures;

#define CHECK(cond)                                                                  \
	do {                                                                             \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                              \
		}                                                                            \
	} while (0)

int main(void)
{
	struct elastic_pool_params p;
	struct elastic_pool_stats st;
	struct elastic_pool *pool;
	void *a, *b;

	elastic_pool_params_init(&p);
	CHECK(p.tick_ms == 500 && p.sample_period_ms == 60000 && p.idle_period_ms == 300000);
	CHECK(p.headroom_chunks == 1 && p.socket_id == SOCKET_ID_ANY);

	p.name = "c-api";
	p.base_size = 64 * 1024;
	p.chunk_size = 64 * 1024;
	p.wall_size = 128 * 1024;
	p.flags = ELASTIC_POOL_F_PROVIDER_HEAP | ELASTIC_POOL_F_MANUAL_TICK;
	pool = elastic_pool_create(&p);
	CHECK(pool != NULL);
	if (pool == NULL)
		return 1;
	CHECK(elastic_pool_lookup("c-api") == pool);
	CHECK(elastic_pool_create(&p) == NULL && rte_errno == EEXIST);

	a = elastic_buf_alloc(pool, 5000);
	CHECK(a != NULL && ((uintptr_t)a & 4095) == 0);
	CHECK(elastic_buf_size(pool, a) == 8192);
	b = elastic_buf_alloc(pool, 64 * 1024); /* does not fit the base's rest: grows */
	CHECK(b != NULL);
	CHECK(elastic_buf_alloc(pool, 64 * 1024) == NULL && rte_errno == ENOBUFS);
	CHECK(elastic_buf_alloc(pool, 0) == NULL && rte_errno == EINVAL);
	CHECK(elastic_buf_free(pool, (char *)a + 4096) == -EINVAL);

	CHECK(elastic_pool_stats_get(pool, &st) == 0);
	CHECK(st.nb_chunks == 2 && st.nb_grows == 1 && st.pinned_bytes == 128 * 1024);
	CHECK(st.in_use_bytes == 8192 + 64 * 1024 && st.last_limit == ELASTIC_LIMIT_WALL);

	CHECK(elastic_buf_free(pool, a) == 0);
	CHECK(elastic_buf_free(pool, b) == 0);
	CHECK(elastic_buf_free(pool, b) == -EINVAL);
	elastic_pool_free(pool);
	CHECK(elastic_pool_lookup("c-api") == NULL && rte_errno == ENOENT);

	printf("%s\n", failures == 0 ? "c api: all checks passed" : "c api: FAILED");
	return failures == 0 ? 0 : 1;
}
