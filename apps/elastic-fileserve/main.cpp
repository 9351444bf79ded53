/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * elastic-fileserve — HTTP/1.1 static files over lwIP on one DPDK port, file data sent without a
 * copy from an elastic pool of pinned buffers.
 *
 * One lcore runs everything, run to completion: rx burst -> lwIP (ethernet_input) -> the HTTP
 * callbacks -> tcp_write -> our linkoutput -> tx burst; lwIP's timers and the pool's maintenance
 * tick from the same loop (ELASTIC_MAINTENANCE=manual), so every allocation callback runs here.
 *
 * The life of a file buffer (struct file_buf):
 *
 *   elastic_buf_alloc_async(read_size) ──(now, or later from the FIFO)──> on_buffer: pread
 *     -> tcp_write(data, no COPY): lwIP queues PBUF_ROM pbufs that point at the buffer
 *     -> linkoutput: each such pbuf becomes an mbuf attached to the bytes as an external buffer
 *        (rte_pktmbuf_attach_extbuf; the buffer's shinfo refcount +1 per mbuf)
 *     -> tx: the PMD frees the mbuf: refcount -1 (rte_pktmbuf_free -> shinfo)
 *     -> lwIP's sent callback: every byte of the buffer acknowledged: refcount -1 (the
 *        connection's own reference)
 *   refcount 0 (whichever comes last) -> free_cb -> elastic_buf_free: the buffer goes back to
 *   the pool, whose FIFO hands it straight to the next waiting connection.
 *
 * A retransmission re-sends the same pbufs: new mbufs on the same bytes, still no copy. Only the
 * Ethernet/IP/TCP headers and the HTTP response head are copied (into "header" mbufs).
 *
 * Backpressure: a connection that needs a buffer when the pool is at its wall waits in the
 * pool's FIFO; meanwhile it reads nothing more from its file and acknowledges no more request
 * bytes (its receive window closes). Closing cancels its waiter (elastic_buf_alloc_cancel).
 */
/* lwIP first: its IP_* macros differ in spelling from <netinet/ip.h>'s (which DPDK pulls in);
 * a system header redefining them is not warned about, the other way round is. */
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "netif/etharp.h"
#include "netif/ethernet.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "elastic_numa.h"
#include "elasticpool.h"
#include "http.hpp"


namespace {

/* ---- constants ----------------------------------------------------------------------------- */
constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
/* Ring sizes and mbuf pools of the port (plain DPDK pools: headers and received frames). */
constexpr uint16_t rx_ring = 1024;
constexpr uint16_t tx_ring = 1024;
/* net_tap copies each frame into the kernel and frees its mbufs inside tx_burst, so few mbufs
 * are ever in flight: rx ring + cache, a tx burst, and what waits in tx_pending. */
constexpr unsigned rx_mbufs = 2048;
constexpr unsigned hdr_mbufs = 4096;      /* header mbufs (copied bytes) */
constexpr unsigned ext_mbufs = 8192;      /* mbufs attached to file buffers (no data room) */
constexpr unsigned mbuf_cache = 256;
constexpr uint16_t burst = 32;
/* Polls without a frame before the loop naps (a shared machine: do not spin when idle). */
constexpr unsigned idle_polls_before_nap = 256;
constexpr unsigned nap_us = 50;
/* Frames a tx burst may fail to take before we drop them (TCP retransmits). */
constexpr unsigned tx_retries = 64;
/* lwIP's poll callback runs every tcp_poll interval x 500 ms. */
constexpr uint8_t poll_interval = 2;
constexpr uint16_t default_tcp_port = 8080;

/* ---- options ------------------------------------------------------------------------------- */
struct options {
	std::string root;
	std::string addr = "10.211.0.2";
	unsigned prefix_len = 24;
	uint16_t tcp_port = default_tcp_port;
	unsigned max_conns = 1024;
	std::size_t max_request = 8 * KiB;
	std::size_t read_size = 64 * KiB;
	unsigned conn_bufs = 4;
	std::size_t pool_base = 2 * MiB;
	std::size_t pool_chunk = 2 * MiB;
	std::size_t pool_wall = 64 * MiB;
	bool static_pool = false;
	uint32_t tick_ms = 100;
	uint32_t sample_ms = 1000;
	uint32_t idle_ms = 5000;
	uint32_t headroom = 1;
	uint32_t stats_ms = 0;
	uint32_t keepalive_ms = 15000;
	bool busy_poll = false;
};

/* ---- state --------------------------------------------------------------------------------- */
struct conn;

struct file_buf {
	char *data = nullptr;
	std::size_t len = 0;     /* bytes read into it */
	std::size_t written = 0; /* of those, handed to tcp_write */
	std::size_t acked = 0;   /* of those, acknowledged by the peer */
	rte_iova_t iova = RTE_BAD_IOVA;
	bool conn_ref = true;    /* the connection's reference is still held */
	rte_mbuf_ext_shared_info shinfo{};
};

/* One tcp_write, for the acknowledgement accounting: buf NULL for copied bytes. */
struct write_rec {
	file_buf *buf;
	std::size_t len;
};

struct conn {
	tcp_pcb *pcb = nullptr;
	std::string req;                /* received request bytes not yet consumed */
	std::size_t unrecved = 0;       /* bytes received but not yet given back to the window */
	bool responding = false;        /* a response is being written */
	bool close_after = false;       /* close once everything is acknowledged */
	bool waiting = false;           /* an async allocation is queued in the pool's FIFO */
	bool in_ready = false;
	bool dead = false;
	int fd = -1;
	uint64_t file_pos = 0, file_end = 0; /* bytes of the file still to read: [pos, end) */
	std::deque<file_buf *> bufs;    /* buffers it holds a reference on, in order */
	std::deque<write_rec> writes;   /* written and not acknowledged, in order */
	u32_t last_active_ms = 0;       /* sys_now() (wraps: compared by difference) */
};

struct counters {
	uint64_t zero_copy_bytes = 0;    /* TCP payload bytes sent from file buffers (extbuf) */
	uint64_t copied_payload = 0;     /* TCP payload bytes copied into mbufs (HTTP heads) */
	uint64_t copied_headers = 0;     /* Ethernet/IP/TCP header bytes (always copied) */
	uint64_t frames_tx = 0, frames_rx = 0, tx_dropped = 0, rx_dropped = 0;
	uint64_t requests = 0, responses[6] = {}; /* by status class: [2]xx, [4]xx, [5]xx */
	uint64_t conns_accepted = 0, conns_refused = 0, conns_max = 0;
	uint64_t waits = 0, wait_cancels = 0, file_bufs = 0, read_errors = 0, alloc_errors = 0;
};

options opt;
counters cnt;
elastic_numa_family *family; /* one pool per NUMA node; we use the port's */
elastic_pool *pool;
rte_mempool *rx_pool, *hdr_pool, *ext_pool;
uint16_t port_id;
netif nif;
int root_fd = -1;
std::string root_real;
std::map<uintptr_t, file_buf *> buf_by_addr; /* start address -> buffer, for linkoutput */
std::vector<conn *> ready, graveyard;
unsigned nb_conns;
std::vector<rte_mbuf *> tx_pending;
volatile sig_atomic_t stop_signal;
uint64_t hz_per_ms;
uint64_t start_ms;

void release_ref(file_buf *b);
uint64_t now_ms();

/* ---- file buffers -------------------------------------------------------------------------- */
void buf_free_cb(void *addr, void *opaque)
{
	(void)addr;
	auto *b = static_cast<file_buf *>(opaque);
	buf_by_addr.erase(reinterpret_cast<uintptr_t>(b->data));
	if (elastic_buf_free(pool, b->data) != 0)
		std::fprintf(stderr, "elastic_buf_free(%p): %s\n", static_cast<void *>(b->data),
			     rte_strerror(rte_errno));
	delete b;
}

void release_ref(file_buf *b)
{
	if (rte_mbuf_ext_refcnt_update(&b->shinfo, -1) == 0)
		buf_free_cb(b->data, b);
}

void mark_ready(conn *c)
{
	if (!c->in_ready && !c->dead) {
		c->in_ready = true;
		ready.push_back(c);
	}
}

/* The pool's callback: a buffer for @arg (a connection), now or from the FIFO later. */
void on_buffer(elastic_pool *p, void *buf, void *arg)
{
	(void)p;
	auto *c = static_cast<conn *>(arg);
	c->waiting = false;
	auto *b = new file_buf;
	b->data = static_cast<char *>(buf);
	std::size_t want = std::min<uint64_t>(opt.read_size, c->file_end - c->file_pos);
	b->iova = elastic_buf_iova(pool, buf);
	rte_mbuf_ext_refcnt_set(&b->shinfo, 1);
	b->shinfo.free_cb = buf_free_cb;
	b->shinfo.fcb_opaque = b;
	buf_by_addr.emplace(reinterpret_cast<uintptr_t>(b->data), b);
	cnt.file_bufs++;
	ssize_t n = pread(c->fd, b->data, want, static_cast<off_t>(c->file_pos));
	if (n != static_cast<ssize_t>(want)) {
		/* The file shrank or failed: the response cannot be completed; abort below. */
		cnt.read_errors++;
		b->conn_ref = false;
		release_ref(b);
		c->file_end = c->file_pos;
		c->close_after = true;
		c->file_pos = UINT64_MAX; /* pump aborts the connection */
		mark_ready(c);
		return;
	}
	b->len = want;
	c->file_pos += want;
	c->bufs.push_back(b);
	mark_ready(c);
}

/* ---- connections ------------------------------------------------------------------------- */
void teardown(conn *c)
{
	if (c->dead)
		return;
	if (c->waiting) {
		if (elastic_buf_alloc_cancel(pool, on_buffer, c) == 0)
			cnt.wait_cancels++;
		c->waiting = false;
	}
	for (file_buf *b : c->bufs)
		if (b->conn_ref) {
			b->conn_ref = false;
			release_ref(b);
		}
	c->bufs.clear();
	c->writes.clear();
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->dead = true;
	nb_conns--;
	graveyard.push_back(c);
}

void detach_pcb(tcp_pcb *pcb)
{
	tcp_arg(pcb, nullptr);
	tcp_recv(pcb, nullptr);
	tcp_sent(pcb, nullptr);
	tcp_err(pcb, nullptr);
	tcp_poll(pcb, nullptr, 0);
}

/* Abort: RST, lwIP frees the segments at once (so no pbuf refers to our buffers after). */
void abort_conn(conn *c)
{
	if (c->pcb) {
		tcp_pcb *pcb = c->pcb;
		c->pcb = nullptr;
		detach_pcb(pcb);
		tcp_abort(pcb);
	}
	teardown(c);
}

/* Graceful close: only once everything written is acknowledged (no pbuf refers to a buffer).
 * @return true when it had to abort instead (a callback must then return ERR_ABRT). */
bool close_conn(conn *c)
{
	bool aborted = false;
	if (c->pcb) {
		tcp_pcb *pcb = c->pcb;
		detach_pcb(pcb);
		if (tcp_close(pcb) != ERR_OK) {
			tcp_abort(pcb);
			aborted = true;
		}
		c->pcb = nullptr;
	}
	teardown(c);
	return aborted;
}

bool send_copied(conn *c, const std::string &s)
{
	if (tcp_sndbuf(c->pcb) < s.size())
		return false;
	if (tcp_write(c->pcb, s.data(), static_cast<u16_t>(s.size()), TCP_WRITE_FLAG_COPY) != ERR_OK)
		return false;
	c->writes.push_back({nullptr, s.size()});
	return true;
}

void count_status(int status)
{
	cnt.responses[std::min(status / 100, 5)]++;
}

/* An error response (small, copied), then close or keep going. */
void respond_error(conn *c, int status, bool keep)
{
	char body[96];
	int blen = std::snprintf(body, sizeof(body), "%d %s\n", status, fileserve::reason(status));
	char head[384];
	int hlen = std::snprintf(head, sizeof(head),
				 "HTTP/1.1 %d %s\r\nServer: elastic-fileserve\r\n"
				 "Content-Type: text/plain\r\nContent-Length: %d\r\n%s%s\r\n",
				 status, fileserve::reason(status), blen,
				 status == 405 ? "Allow: GET, HEAD\r\n" : "",
				 keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
	count_status(status);
	if (!send_copied(c, std::string(head, static_cast<std::size_t>(hlen)) + body)) {
		abort_conn(c);
		return;
	}
	if (!keep)
		c->close_after = true;
	tcp_output(c->pcb);
}

/* Start the response to the request at the head of c->req, when there is one. */
void next_request(conn *c)
{
	while (!c->dead && !c->responding && !c->close_after) {
		std::string_view buf(c->req);
		std::size_t hl = fileserve::head_length(buf);
		if (hl == 0) {
			if (c->req.size() >= opt.max_request) {
				respond_error(c, 431, false);
			}
			return;
		}
		if (hl > opt.max_request) {
			respond_error(c, 431, false);
			return;
		}
		cnt.requests++;
		fileserve::request rq;
		int st = fileserve::parse_request(buf.substr(0, hl), rq);
		c->req.erase(0, hl);
		if (st != 0) {
			/* 400/405/431 close (we may be out of step with the client); 403 keeps going. */
			respond_error(c, st, st == 403 && rq.keep_alive);
			continue;
		}
		uint64_t size = 0;
		int fd = fileserve::open_below(root_fd, root_real, rq.path, size);
		if (fd < 0) {
			respond_error(c, -fd, rq.keep_alive);
			continue;
		}
		uint64_t first = 0, last = size ? size - 1 : 0;
		int status = 200;
		if (rq.has_range) {
			status = fileserve::parse_range(rq.range, size, first, last);
			if (status == 200) {
				first = 0;
				last = size ? size - 1 : 0;
			}
		}
		char head[512];
		int hlen;
		if (status == 416) {
			close(fd);
			count_status(416);
			hlen = std::snprintf(head, sizeof(head),
					     "HTTP/1.1 416 Range Not Satisfiable\r\nServer: elastic-fileserve\r\n"
					     "Content-Range: bytes */%llu\r\nContent-Length: 0\r\n%s\r\n",
					     static_cast<unsigned long long>(size),
					     rq.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
			if (!send_copied(c, std::string(head, static_cast<std::size_t>(hlen)))) {
				abort_conn(c);
				return;
			}
			if (!rq.keep_alive)
				c->close_after = true;
			tcp_output(c->pcb);
			continue;
		}
		uint64_t body = size ? last - first + 1 : 0;
		char crange[96] = "";
		if (status == 206)
			std::snprintf(crange, sizeof(crange), "Content-Range: bytes %llu-%llu/%llu\r\n",
				      static_cast<unsigned long long>(first),
				      static_cast<unsigned long long>(last),
				      static_cast<unsigned long long>(size));
		hlen = std::snprintf(head, sizeof(head),
				     "HTTP/1.1 %d %s\r\nServer: elastic-fileserve\r\nContent-Type: %s\r\n"
				     "Content-Length: %llu\r\nAccept-Ranges: bytes\r\n%s%s\r\n",
				     status, fileserve::reason(status), fileserve::content_type(rq.path),
				     static_cast<unsigned long long>(body), crange,
				     rq.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
		count_status(status);
		if (!send_copied(c, std::string(head, static_cast<std::size_t>(hlen)))) {
			close(fd);
			abort_conn(c);
			return;
		}
		if (!rq.keep_alive)
			c->close_after = true;
		if (rq.meth == fileserve::method::head || body == 0) {
			close(fd);
			tcp_output(c->pcb);
			continue;
		}
		c->fd = fd;
		c->file_pos = first;
		c->file_end = first + body;
		c->responding = true;
		mark_ready(c);
	}
}

/* Write what can be written, ask for the next buffer, finish the response. */
void pump(conn *c)
{
	if (c->dead || !c->pcb)
		return;
	if (c->file_pos == UINT64_MAX) { /* a read failed: the response cannot be completed */
		abort_conn(c);
		return;
	}
	for (;;) {
		file_buf *cur = nullptr;
		for (file_buf *b : c->bufs)
			if (b->written < b->len) {
				cur = b;
				break;
			}
		if (cur) {
			std::size_t room = tcp_sndbuf(c->pcb);
			std::size_t n = std::min(cur->len - cur->written, room);
			if (n == 0 || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 2)
				break;
			/* u16_t length per write in lwIP 2.1. */
			n = std::min<std::size_t>(n, 0xffff & ~static_cast<std::size_t>(0xfff));
			bool more = cur->written + n < cur->len || c->file_pos < c->file_end;
			err_t e = tcp_write(c->pcb, cur->data + cur->written, static_cast<u16_t>(n),
					    more ? TCP_WRITE_FLAG_MORE : 0);
			if (e == ERR_MEM)
				break;
			if (e != ERR_OK) {
				abort_conn(c);
				return;
			}
			cur->written += n;
			c->writes.push_back({cur, n});
			continue;
		}
		if (c->responding && c->file_pos < c->file_end && !c->waiting &&
		    c->bufs.size() < opt.conn_bufs) {
			std::size_t want = std::min<uint64_t>(opt.read_size, c->file_end - c->file_pos);
			c->waiting = true; /* on_buffer clears it, maybe inside this call */
			int rc = elastic_buf_alloc_async(pool, want, on_buffer, c);
			if (rc == 0) {
				if (c->file_pos == UINT64_MAX) {
					abort_conn(c);
					return;
				}
				if (c->waiting) {
					/* Queued in the FIFO: stop here until on_buffer runs. */
					cnt.waits++;
					break;
				}
				continue;
			}
			c->waiting = false;
			cnt.alloc_errors++;
			std::fprintf(stderr, "elastic_buf_alloc_async(%zu): %s\n", want,
				     rte_strerror(-rc));
			abort_conn(c);
			return;
		}
		break;
	}
	if (c->responding && c->file_pos >= c->file_end && !c->waiting) {
		bool all_written = true;
		for (file_buf *b : c->bufs)
			all_written = all_written && b->written == b->len;
		if (all_written) {
			c->responding = false;
			if (c->fd >= 0)
				close(c->fd);
			c->fd = -1;
		}
	}
	if (c->pcb)
		tcp_output(c->pcb);
	if (!c->waiting && c->unrecved && c->pcb) {
		/* Reading resumes: the window opens again. */
		tcp_recved(c->pcb, static_cast<u16_t>(c->unrecved));
		c->unrecved = 0;
	}
	if (!c->responding)
		next_request(c);
	if (!c->dead && c->close_after && !c->responding && c->writes.empty())
		close_conn(c);
}

err_t on_sent(void *arg, tcp_pcb *pcb, u16_t len)
{
	(void)pcb;
	auto *c = static_cast<conn *>(arg);
	if (!c || c->dead)
		return ERR_OK;
	std::size_t left = len;
	while (left && !c->writes.empty()) {
		write_rec &w = c->writes.front();
		std::size_t n = std::min(left, w.len);
		w.len -= n;
		left -= n;
		if (w.buf) {
			w.buf->acked += n;
			if (w.buf->acked == w.buf->len && w.buf->written == w.buf->len) {
				/* Every byte acknowledged: drop the connection's reference. */
				file_buf *b = w.buf;
				c->bufs.erase(std::find(c->bufs.begin(), c->bufs.end(), b));
				b->conn_ref = false;
				release_ref(b);
			}
		}
		if (w.len == 0)
			c->writes.pop_front();
	}
	c->last_active_ms = sys_now();
	mark_ready(c);
	return ERR_OK;
}

err_t on_recv(void *arg, tcp_pcb *pcb, pbuf *p, err_t err)
{
	auto *c = static_cast<conn *>(arg);
	if (!c || c->dead) {
		if (p) {
			tcp_recved(pcb, p->tot_len);
			pbuf_free(p);
		}
		return ERR_OK;
	}
	if (!p || err != ERR_OK) {
		/* The peer closed its side: finish what is in flight, then close. */
		if (p)
			pbuf_free(p);
		c->close_after = true;
		if (!c->responding && c->writes.empty())
			return close_conn(c) ? ERR_ABRT : ERR_OK;
		mark_ready(c);
		return ERR_OK;
	}
	if (c->close_after) {
		/* Closing: what the peer still sends is discarded. */
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	}
	if (c->req.size() + p->tot_len > opt.max_request + TCP_MSS) {
		/* Far more than a request head while we are busy: keep it in lwIP for later. */
		if (c->responding)
			return ERR_MEM; /* lwIP keeps the pbuf (refused data) and offers it again */
	}
	std::size_t old = c->req.size();
	c->req.resize(old + p->tot_len);
	pbuf_copy_partial(p, c->req.data() + old, p->tot_len, 0);
	if (c->waiting)
		c->unrecved += p->tot_len; /* backpressure: the window stays closed meanwhile */
	else
		tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	c->last_active_ms = sys_now();
	if (!c->responding)
		mark_ready(c);
	return ERR_OK;
}

void on_err(void *arg, err_t err)
{
	(void)err;
	auto *c = static_cast<conn *>(arg);
	if (!c || c->dead)
		return;
	c->pcb = nullptr; /* lwIP freed it, and its segments */
	teardown(c);
}

err_t on_poll(void *arg, tcp_pcb *pcb)
{
	(void)pcb;
	auto *c = static_cast<conn *>(arg);
	if (!c || c->dead)
		return ERR_OK;
	/* Idle keep-alive connections go after keepalive_ms (a waiting one is not idle). */
	if (!c->responding && !c->waiting && c->writes.empty() &&
	    static_cast<u32_t>(sys_now() - c->last_active_ms) > opt.keepalive_ms) {
		abort_conn(c);
		return ERR_ABRT;
	}
	mark_ready(c);
	return ERR_OK;
}

err_t on_accept(void *arg, tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	if (nb_conns >= opt.max_conns) {
		cnt.conns_refused++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	auto *c = new conn;
	c->pcb = pcb;
	c->last_active_ms = sys_now();
	nb_conns++;
	cnt.conns_accepted++;
	cnt.conns_max = std::max<uint64_t>(cnt.conns_max, nb_conns);
	tcp_arg(pcb, c);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_poll(pcb, on_poll, poll_interval);
	tcp_nagle_disable(pcb);
	return ERR_OK;
}

/* ---- the netif ----------------------------------------------------------------------------- */
void flush_tx()
{
	std::size_t done = 0;
	unsigned tries = 0;
	while (done < tx_pending.size() && tries++ < tx_retries) {
		done += rte_eth_tx_burst(port_id, 0, tx_pending.data() + done,
					 static_cast<uint16_t>(std::min<std::size_t>(
						 tx_pending.size() - done, burst)));
	}
	cnt.frames_tx += done;
	for (std::size_t i = done; i < tx_pending.size(); i++) {
		cnt.tx_dropped++;
		rte_pktmbuf_free(tx_pending[i]);
	}
	tx_pending.clear();
}

file_buf *buf_of(const void *p, std::size_t len)
{
	auto a = reinterpret_cast<uintptr_t>(p);
	auto it = buf_by_addr.upper_bound(a);
	if (it == buf_by_addr.begin())
		return nullptr;
	--it;
	file_buf *b = it->second;
	if (a + len > it->first + b->len)
		return nullptr;
	return b;
}

/* Header length of an Ethernet/IPv4/TCP frame in the first pbuf (0 for anything else). */
std::size_t tcp_header_len(const pbuf *p)
{
	const auto *d = static_cast<const uint8_t *>(p->payload);
	if (p->len < 14 + 20 || d[12] != 0x08 || d[13] != 0x00 || d[14 + 9] != 6)
		return 0;
	std::size_t ihl = (d[14] & 0xf) * 4u;
	if (p->len < 14 + ihl + 20)
		return 0;
	return 14 + ihl + ((d[14 + ihl + 12] >> 4) * 4u);
}

err_t netif_output(netif *n, pbuf *p)
{
	(void)n;
	rte_mbuf *head = rte_pktmbuf_alloc(hdr_pool);
	if (!head) {
		cnt.tx_dropped++;
		return ERR_MEM;
	}
	rte_mbuf *tail = head;
	std::size_t hdr = tcp_header_len(p), copied = 0;
	for (pbuf *q = p; q; q = q->next) {
		if (q->len == 0)
			continue;
		file_buf *b = (q->type_internal & PBUF_TYPE_FLAG_STRUCT_DATA_CONTIGUOUS) ?
			nullptr : buf_of(q->payload, q->len);
		if (b) {
			rte_mbuf *e = rte_pktmbuf_alloc(ext_pool);
			if (e) {
				auto off = static_cast<std::size_t>(static_cast<char *>(q->payload) - b->data);
				rte_iova_t iova = b->iova == RTE_BAD_IOVA ? RTE_BAD_IOVA : b->iova + off;
				rte_mbuf_ext_refcnt_update(&b->shinfo, 1);
				rte_pktmbuf_attach_extbuf(e, q->payload, iova, q->len, &b->shinfo);
				e->data_len = q->len;
				tail->next = e;
				tail = e;
				head->nb_segs++;
				head->pkt_len += q->len;
				cnt.zero_copy_bytes += q->len;
				continue;
			}
			/* No mbuf to attach: copy this piece instead (counted as copied). */
		}
		const char *src = static_cast<const char *>(q->payload);
		std::size_t left = q->len;
		while (left) {
			if (rte_pktmbuf_tailroom(tail) == 0 || RTE_MBUF_HAS_EXTBUF(tail)) {
				rte_mbuf *m = rte_pktmbuf_alloc(hdr_pool);
				if (!m) {
					rte_pktmbuf_free(head);
					cnt.tx_dropped++;
					return ERR_MEM;
				}
				tail->next = m;
				tail = m;
				head->nb_segs++;
			}
			std::size_t k = std::min<std::size_t>(left, rte_pktmbuf_tailroom(tail));
			std::memcpy(rte_pktmbuf_mtod_offset(tail, char *, tail->data_len), src, k);
			tail->data_len = static_cast<uint16_t>(tail->data_len + k);
			head->pkt_len += static_cast<uint32_t>(k);
			src += k;
			left -= k;
			copied += k;
		}
	}
	cnt.copied_headers += std::min(hdr, copied);
	cnt.copied_payload += copied - std::min(hdr, copied);
	tx_pending.push_back(head);
	if (tx_pending.size() >= burst)
		flush_tx();
	return ERR_OK;
}

err_t netif_setup(netif *n)
{
	rte_ether_addr mac;
	rte_eth_macaddr_get(port_id, &mac);
	n->hwaddr_len = ETH_HWADDR_LEN;
	std::memcpy(n->hwaddr, mac.addr_bytes, ETH_HWADDR_LEN);
	n->mtu = 1500;
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	n->output = etharp_output;
	n->linkoutput = netif_output;
	n->name[0] = 'e';
	n->name[1] = 'p';
	return ERR_OK;
}

void rx_frame(rte_mbuf *m)
{
	pbuf *p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(m->pkt_len), PBUF_POOL);
	if (!p) {
		cnt.rx_dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	u16_t off = 0;
	for (rte_mbuf *s = m; s; s = s->next) {
		pbuf_take_at(p, rte_pktmbuf_mtod(s, void *), s->data_len, off);
		off = static_cast<u16_t>(off + s->data_len);
	}
	rte_pktmbuf_free(m);
	cnt.frames_rx++;
	if (nif.input(p, &nif) != ERR_OK)
		pbuf_free(p);
}

/* ---- port, pool, loop ---------------------------------------------------------------------- */
int port_setup()
{
	rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0)
		return rc;
	rte_eth_conf conf{};
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	rc = rte_eth_dev_configure(port_id, 1, 1, &conf);
	if (rc != 0)
		return rc;
	uint16_t nrx = rx_ring, ntx = tx_ring;
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nrx, &ntx);
	int socket = rte_eth_dev_socket_id(port_id);
	rc = rte_eth_rx_queue_setup(port_id, 0, nrx, socket, nullptr, rx_pool);
	if (rc != 0)
		return rc;
	rte_eth_txconf txc = info.default_txconf;
	txc.offloads = conf.txmode.offloads;
	rc = rte_eth_tx_queue_setup(port_id, 0, ntx, socket, &txc);
	if (rc != 0)
		return rc;
	return rte_eth_dev_start(port_id);
}

/* Bytes a (fixed) mempool occupies: objects with their headers and trailers. */
uint64_t pool_bytes(const rte_mempool *mp)
{
	return static_cast<uint64_t>(mp->populated_size) *
	       (mp->header_size + mp->elt_size + mp->trailer_size);
}

void on_signal(int sig)
{
	stop_signal = sig;
}

void print_stats(const char *tag)
{
	elastic_pool_stats st;
	elastic_pool_stats_get(pool, &st);
	std::printf("%s: t=%llu conns=%u pinned=%llu in_use=%llu peak_pinned=%llu chunks=%u waiters=%u "
		    "grows=%llu shrinks=%llu queued=%llu wall_hits=%llu zero_copy=%llu "
		    "copied_payload=%llu copied_headers=%llu\n",
		    tag, (unsigned long long)(now_ms() - start_ms), nb_conns,
		    (unsigned long long)st.pinned_bytes,
		    (unsigned long long)st.in_use_bytes, (unsigned long long)st.peak_pinned_bytes,
		    st.nb_chunks, st.nb_waiters, (unsigned long long)st.nb_grows,
		    (unsigned long long)st.nb_shrinks, (unsigned long long)st.nb_queued,
		    (unsigned long long)st.nb_wall_hits, (unsigned long long)cnt.zero_copy_bytes,
		    (unsigned long long)cnt.copied_payload, (unsigned long long)cnt.copied_headers);
	std::fflush(stdout);
}

uint64_t now_ms()
{
	return rte_get_timer_cycles() / hz_per_ms;
}

void usage(FILE *f)
{
	std::fprintf(f,
		"usage: elastic-fileserve [EAL args] -- --root DIR [options]\n"
		"HTTP/1.1 static files (GET, HEAD, single Range, keep-alive) over lwIP on the first\n"
		"DPDK port (e.g. --vdev=net_tap0,iface=NAME), file data sent zero-copy from an\n"
		"elastic pool.\n"
		"  --root DIR            directory served (required)\n"
		"  --addr A.B.C.D        our IPv4 address (default 10.211.0.2)\n"
		"  --prefix-len N        netmask length (default 24)\n"
		"  --port N              TCP port (default 8080)\n"
		"  --max-conns N         connections at once; more are reset (default 1024)\n"
		"  --max-request BYTES   largest request head; larger: 431 (default 8192)\n"
		"  --read-size KIB       bytes per file buffer (default 64)\n"
		"  --conn-bufs N         buffers one connection may hold at once (default 4)\n"
		"  --pool-base-kib N     elastic pool base chunk (default 2048)\n"
		"  --pool-chunk-kib N    additional chunk (default 2048)\n"
		"  --pool-wall-kib N     wall: most bytes pinned (default 65536)\n"
		"  --static              a static pool: base = wall, never shrinks (comparison)\n"
		"  --tick-ms N --sample-ms N --idle-ms N --headroom N   pool maintenance\n"
		"                        (defaults 100, 1000, 5000, 1)\n"
		"  --stats-ms N          print a stats line every N ms (default 0: only at exit)\n"
		"  --keepalive-ms N      idle keep-alive connections closed after N ms (15000)\n"
		"  --busy-poll           never nap when idle\n"
		"  --help                this text\n"
		"SIGINT/SIGTERM: every connection is reset, every buffer returned, exit 0.\n");
}

bool parse_num(const char *s, unsigned long long lo, unsigned long long hi,
	       unsigned long long &v)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	v = std::strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' && v >= lo && v <= hi && s[0] != '-';
}

/* @return 0, 1 (--help given), or 2 (bad option, named on stderr). */
int parse_options(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		std::string_view a = argv[i];
		auto need = [&](unsigned long long lo, unsigned long long hi,
				unsigned long long &v) -> bool {
			if (i + 1 >= argc || !parse_num(argv[i + 1], lo, hi, v)) {
				std::fprintf(stderr, "elastic-fileserve: option %s needs a number in "
					     "[%llu, %llu]\n", argv[i], lo, hi);
				return false;
			}
			i++;
			return true;
		};
		unsigned long long v;
		if (a == "--help" || a == "-h") {
			return 1;
		} else if (a == "--root") {
			if (i + 1 >= argc) {
				std::fprintf(stderr, "elastic-fileserve: option --root needs a directory\n");
				return 2;
			}
			opt.root = argv[++i];
		} else if (a == "--addr") {
			in_addr tmp;
			if (i + 1 >= argc || inet_pton(AF_INET, argv[i + 1], &tmp) != 1) {
				std::fprintf(stderr, "elastic-fileserve: option --addr needs an IPv4 "
					     "address\n");
				return 2;
			}
			opt.addr = argv[++i];
		} else if (a == "--prefix-len") {
			if (!need(1, 30, v))
				return 2;
			opt.prefix_len = static_cast<unsigned>(v);
		} else if (a == "--port") {
			if (!need(1, 65535, v))
				return 2;
			opt.tcp_port = static_cast<uint16_t>(v);
		} else if (a == "--max-conns") {
			if (!need(1, 100000, v))
				return 2;
			opt.max_conns = static_cast<unsigned>(v);
		} else if (a == "--max-request") {
			if (!need(256, 1 << 20, v))
				return 2;
			opt.max_request = v;
		} else if (a == "--read-size") {
			if (!need(4, 1024, v))
				return 2;
			opt.read_size = v * KiB;
		} else if (a == "--conn-bufs") {
			if (!need(1, 64, v))
				return 2;
			opt.conn_bufs = static_cast<unsigned>(v);
		} else if (a == "--pool-base-kib") {
			if (!need(4, 1 << 22, v))
				return 2;
			opt.pool_base = v * KiB;
		} else if (a == "--pool-chunk-kib") {
			if (!need(4, 1 << 22, v))
				return 2;
			opt.pool_chunk = v * KiB;
		} else if (a == "--pool-wall-kib") {
			if (!need(4, 1 << 24, v))
				return 2;
			opt.pool_wall = v * KiB;
		} else if (a == "--static") {
			opt.static_pool = true;
		} else if (a == "--tick-ms") {
			if (!need(1, 60000, v))
				return 2;
			opt.tick_ms = static_cast<uint32_t>(v);
		} else if (a == "--sample-ms") {
			if (!need(1, 3600000, v))
				return 2;
			opt.sample_ms = static_cast<uint32_t>(v);
		} else if (a == "--idle-ms") {
			if (!need(1, 3600000, v))
				return 2;
			opt.idle_ms = static_cast<uint32_t>(v);
		} else if (a == "--headroom") {
			if (!need(0, 1000, v))
				return 2;
			opt.headroom = static_cast<uint32_t>(v);
		} else if (a == "--stats-ms") {
			if (!need(0, 3600000, v))
				return 2;
			opt.stats_ms = static_cast<uint32_t>(v);
		} else if (a == "--keepalive-ms") {
			if (!need(100, 3600000, v))
				return 2;
			opt.keepalive_ms = static_cast<uint32_t>(v);
		} else if (a == "--busy-poll") {
			opt.busy_poll = true;
		} else {
			std::fprintf(stderr, "elastic-fileserve: unknown option '%s' (--help lists "
				     "them)\n", argv[i]);
			return 2;
		}
	}
	if (opt.root.empty()) {
		std::fprintf(stderr, "elastic-fileserve: --root DIR is required\n");
		return 2;
	}
	if (opt.static_pool)
		opt.pool_base = opt.pool_wall;
	if (opt.pool_base > opt.pool_wall) {
		std::fprintf(stderr, "elastic-fileserve: --pool-base-kib above --pool-wall-kib\n");
		return 2;
	}
	if (opt.read_size > opt.pool_chunk || opt.read_size > opt.pool_base) {
		std::fprintf(stderr, "elastic-fileserve: --read-size must fit in the base and in a "
			     "chunk (a larger request could only ever be served by the base)\n");
		return 2;
	}
	return 0;
}

} // namespace

/* lwIP's clock (NO_SYS): milliseconds. */
extern "C" u32_t sys_now(void)
{
	return static_cast<u32_t>(now_ms()); /* lwIP compares with wrap-around */
}

/* Serve until SIGINT/SIGTERM, then reset every connection and account for every buffer.
 * @return the exit status: 0 when every buffer came back. */
int serve()
{
	lwip_init();
	ip4_addr_t ip, mask, gw;
	ip4addr_aton(opt.addr.c_str(), &ip);
	ip4_addr_set_u32(&mask, htonl(~((1u << (32 - opt.prefix_len)) - 1)));
	ip4_addr_set_zero(&gw);
	netif_add(&nif, &ip, &mask, &gw, nullptr, netif_setup, ethernet_input);
	netif_set_default(&nif);
	netif_set_up(&nif);
	netif_set_link_up(&nif);
	tcp_pcb *lp = tcp_new();
	if (!lp || tcp_bind(lp, IP_ADDR_ANY, opt.tcp_port) != ERR_OK) {
		std::fprintf(stderr, "cannot bind TCP port %u\n", opt.tcp_port);
		return 1;
	}
	tcp_pcb *listener = tcp_listen(lp);
	if (!listener) {
		std::fprintf(stderr, "cannot listen on TCP port %u\n", opt.tcp_port);
		return 1;
	}
	tcp_accept(listener, on_accept);
	std::printf("listening on %s:%u, root %s, pool %s: base %zu KiB, chunk %zu KiB, "
		    "wall %zu KiB%s, read size %zu KiB, pid %d\n", opt.addr.c_str(),
		    opt.tcp_port, root_real.c_str(), elastic_pool_name(pool), opt.pool_base / KiB,
		    opt.pool_chunk / KiB, opt.pool_wall / KiB,
		    opt.static_pool ? " (static)" : "", opt.read_size / KiB,
		    static_cast<int>(getpid()));
	std::fflush(stdout);

	uint64_t next_stats = now_ms() + opt.stats_ms, next_maint = 0;
	unsigned idle = 0;
	rte_mbuf *rx[burst];
	while (!stop_signal) {
		uint16_t k = rte_eth_rx_burst(port_id, 0, rx, burst);
		for (uint16_t i = 0; i < k; i++)
			rx_frame(rx[i]);
		sys_check_timeouts();
		uint64_t now = now_ms();
		if (now >= next_maint) {
			elastic_maintenance_run();
			next_maint = now + 10;
		}
		/* Connections with work: a buffer arrived, bytes were acknowledged, ... */
		while (!ready.empty()) {
			std::vector<conn *> batch;
			batch.swap(ready);
			for (conn *c : batch) {
				c->in_ready = false;
				pump(c);
			}
		}
		flush_tx();
		for (conn *c : graveyard)
			delete c;
		graveyard.clear();
		if (opt.stats_ms && now >= next_stats) {
			print_stats("stats");
			next_stats = now + opt.stats_ms;
		}
		if (k == 0 && !opt.busy_poll && ++idle > idle_polls_before_nap)
			rte_delay_us_sleep(nap_us);
		else if (k)
			idle = 0;
	}
	std::printf("signal %d: stopping\n", static_cast<int>(stop_signal));
	/* Every connection is reset: lwIP drops its segments, every buffer comes home. */
	for (tcp_pcb *p = tcp_active_pcbs; p;) {
		tcp_pcb *next = p->next;
		auto *c = static_cast<conn *>(p->callback_arg);
		if (c)
			abort_conn(c);
		else
			tcp_abort(p);
		p = next;
	}
	tcp_close(listener);
	flush_tx();
	for (conn *c : graveyard)
		delete c;
	graveyard.clear();
	ready.clear();
	print_stats("exit");
	elastic_pool_stats st;
	elastic_pool_stats_get(pool, &st);
	std::printf("requests %llu, 2xx %llu, 4xx %llu, 5xx %llu; connections accepted %llu, "
		    "refused %llu, most at once %llu; buffers %llu, waits %llu, cancelled "
		    "waits %llu, read errors %llu; frames tx %llu rx %llu, dropped tx %llu "
		    "rx %llu\n",
		    (unsigned long long)cnt.requests, (unsigned long long)cnt.responses[2],
		    (unsigned long long)cnt.responses[4], (unsigned long long)cnt.responses[5],
		    (unsigned long long)cnt.conns_accepted, (unsigned long long)cnt.conns_refused,
		    (unsigned long long)cnt.conns_max, (unsigned long long)cnt.file_bufs,
		    (unsigned long long)cnt.waits, (unsigned long long)cnt.wait_cancels,
		    (unsigned long long)cnt.read_errors, (unsigned long long)cnt.frames_tx,
		    (unsigned long long)cnt.frames_rx, (unsigned long long)cnt.tx_dropped,
		    (unsigned long long)cnt.rx_dropped);
	uint64_t payload = cnt.zero_copy_bytes + cnt.copied_payload;
	std::printf("payload bytes: zero-copy %llu, copied %llu (%.2f%% zero-copy)\n",
		    (unsigned long long)cnt.zero_copy_bytes,
		    (unsigned long long)cnt.copied_payload,
		    payload ? 100.0 * static_cast<double>(cnt.zero_copy_bytes) /
			      static_cast<double>(payload) : 0.0);
	elastic_pool_sizing sz;
	if (elastic_pool_sizing_get(pool, &sz) == 0)
		std::printf("sizing: peak in use %llu, peak demand %llu, static pool for the "
			    "peak %llu bytes\n", (unsigned long long)sz.peak_in_use_bytes,
			    (unsigned long long)sz.peak_demand_bytes,
			    (unsigned long long)sz.static_bytes);
	if (st.in_use_bytes == 0 && buf_by_addr.empty()) {
		std::printf("buffers out at exit: 0\n");
		return 0;
	}
	std::printf("FAILED: buffers out at exit: %zu (%llu bytes)\n", buf_by_addr.size(),
		    (unsigned long long)st.in_use_bytes);
	return 1;
}

/* What main() sets up, released in reverse order whichever way it returns. */
struct resources {
	bool eal = false;
	bool port = false; /* configured: stop and close it */

	resources() = default;
	resources(const resources &) = delete;
	resources &operator=(const resources &) = delete;
	~resources()
	{
		if (port) {
			rte_eth_dev_stop(port_id);
			rte_eth_dev_close(port_id);
		}
		elastic_numa_family_free(family);
		rte_mempool_free(ext_pool);
		rte_mempool_free(hdr_pool);
		rte_mempool_free(rx_pool);
		if (root_fd >= 0)
			close(root_fd);
		if (eal)
			rte_eal_cleanup();
	}
};

int main(int argc, char **argv)
{
	/* Our options come after "--"; look at them before the EAL starts. */
	int dd = 1;
	while (dd < argc && std::strcmp(argv[dd], "--") != 0)
		dd++;
	for (int i = 1; i < dd; i++)
		if (!std::strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
	int prc = parse_options(dd < argc ? argc - dd - 1 : 0, argv + dd + 1);
	if (prc == 1) {
		usage(stdout);
		return 0;
	}
	if (prc != 0)
		return 2;
	root_fd = open(opt.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char rp[PATH_MAX];
	if (root_fd < 0 || !realpath(opt.root.c_str(), rp)) {
		std::fprintf(stderr, "elastic-fileserve: --root %s: %s\n", opt.root.c_str(),
			     std::strerror(errno));
		if (root_fd >= 0)
			close(root_fd);
		return 2;
	}
	root_real = rp;

	/* Maintenance from our loop only: allocation callbacks must run on this lcore. */
	setenv("ELASTIC_MAINTENANCE", "manual", 1);
	resources res;
	int n = rte_eal_init(dd, argv);
	if (n < 0) {
		std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	hz_per_ms = std::max<uint64_t>(rte_get_timer_hz() / 1000, 1);
	start_ms = now_ms();
	std::signal(SIGINT, on_signal);
	std::signal(SIGTERM, on_signal);
	res.eal = true;
	int socket = static_cast<int>(rte_socket_id());
	char pname[RTE_MEMPOOL_NAMESIZE];
	std::snprintf(pname, sizeof(pname), "fs_rx_%d", getpid());
	rx_pool = rte_pktmbuf_pool_create(pname, rx_mbufs, mbuf_cache, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	std::snprintf(pname, sizeof(pname), "fs_hdr_%d", getpid());
	hdr_pool = rte_pktmbuf_pool_create(pname, hdr_mbufs, mbuf_cache, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	std::snprintf(pname, sizeof(pname), "fs_ext_%d", getpid());
	ext_pool = rte_pktmbuf_pool_create(pname, ext_mbufs, mbuf_cache, 0, 0, socket);
	elastic_pool_params pp;
	elastic_pool_params_init(&pp);
	char epname[ELASTIC_NUMA_PREFIXSIZE + 1];
	std::snprintf(epname, sizeof(epname), "fs_%d", getpid());
	pp.base_size = opt.pool_base;
	pp.chunk_size = opt.pool_chunk;
	pp.wall_size = opt.pool_wall;
	pp.max_buf_size = opt.read_size;
	pp.tick_ms = opt.tick_ms;
	pp.sample_period_ms = opt.sample_ms;
	pp.idle_period_ms = opt.idle_ms;
	pp.headroom_chunks = opt.headroom;
	if (opt.static_pool)
		pp.flags |= ELASTIC_POOL_F_NO_SHRINK;
	if (rte_eth_dev_count_avail() == 0) {
		std::fprintf(stderr, "no ethdev port: give one, e.g. --vdev=net_tap0,iface=NAME\n");
		return 1;
	}
	RTE_ETH_FOREACH_DEV(port_id)
		break;
	/* The file buffers come from the pool of the port's NUMA node (a family: one per node). */
	if (!rx_pool || !hdr_pool || !ext_pool || !(family = elastic_numa_family_create(epname, &pp)) ||
	    !(pool = elastic_numa_pool_for_port(family, port_id))) {
		std::fprintf(stderr, "pools: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	std::printf("fixed mbuf pools: %llu bytes (rx %u, header %u, attach %u mbufs)\n",
		    (unsigned long long)(pool_bytes(rx_pool) + pool_bytes(hdr_pool) +
					 pool_bytes(ext_pool)), rx_mbufs, hdr_mbufs, ext_mbufs);
	res.port = true;
	if (int rc = port_setup(); rc != 0) {
		std::fprintf(stderr, "port setup: %s\n", rte_strerror(-rc));
		return 1;
	}
	return serve();
}
