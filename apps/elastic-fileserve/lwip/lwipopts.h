/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lwIP options of elastic-fileserve: the raw API on one lcore (NO_SYS), IPv4 + TCP + ARP +
 * ICMP, memory from malloc, and TCP writes that *reference* the application's data.
 *
 * Zero copy: tcp_write() without TCP_WRITE_FLAG_COPY builds PBUF_ROM pbufs pointing at the
 * caller's bytes, and LWIP_NETIF_TX_SINGLE_PBUF 0 hands the netif the chain as it is (header
 * pbuf + those data pbufs) instead of copying each segment into one pbuf (Debian's liblwip is
 * built with TX_SINGLE_PBUF 1: a copy per write). The netif's linkoutput then attaches mbufs to
 * the referenced bytes (main.cpp, netif_output).
 */
#ifndef ELASTIC_FILESERVE_LWIPOPTS_H
#define ELASTIC_FILESERVE_LWIPOPTS_H

/* ---- system: no OS layer, one thread ---------------------------------------------------- */
#define NO_SYS                      1
#define SYS_LIGHTWEIGHT_PROT        0
#define LWIP_SOCKET                 0
#define LWIP_NETCONN                0
#define LWIP_SINGLE_NETIF           1
/* lwIP's def.h would #define htons() & co.: the C library's are used by the application. */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

/* ---- memory: malloc for the heap and every memp pool (no fixed counts to size) ------------ */
#define MEM_LIBC_MALLOC             1
#define MEMP_MEM_MALLOC             1
#define MEM_ALIGNMENT               8
/* Received frames are copied into PBUF_POOL pbufs (requests are small). */
#define PBUF_POOL_BUFSIZE           1536
/* Sanity counts (MEMP_MEM_MALLOC makes them soft): connections and queued segments. */
#define MEMP_NUM_TCP_PCB            4096
#define MEMP_NUM_TCP_PCB_LISTEN     2
#define MEMP_NUM_TCP_SEG            8192

/* ---- protocols --------------------------------------------------------------------------- */
#define LWIP_IPV4                   1
#define LWIP_IPV6                   0
#define LWIP_ARP                    1
#define LWIP_ETHERNET               1
#define LWIP_ICMP                   1
#define LWIP_RAW                    0
#define LWIP_UDP                    0
#define LWIP_DHCP                   0
#define LWIP_AUTOIP                 0
#define LWIP_IGMP                   0
#define LWIP_DNS                    0
#define LWIP_TCP                    1
#define IP_REASSEMBLY               0
#define IP_FRAG                     0
#define ETH_PAD_SIZE                0

/* ---- TCP --------------------------------------------------------------------------------- */
#define TCP_MSS                     1460
/* Window scaling: a send buffer above 64 KiB (tcpwnd_size_t becomes 32 bits). */
#define LWIP_WND_SCALE              1
#define TCP_RCV_SCALE               0
#define TCP_WND                     (32 * 1024)
/* Bytes a connection may have written but not acknowledged: with zero copy these are bytes of
 * the pool's buffers, so this bounds pinned memory per connection (with --conn-bufs). */
#define TCP_SND_BUF                 (256 * 1024)
/* Needed once TCP_SND_BUF > 64 KiB: the default (TCP_SND_BUF / 2) overflows lwIP's u16_t. */
#define TCP_SNDLOWAT                (32 * 1024)
/* Segments per connection: a 64 KiB buffer becomes 45 segments; the chain per tcp_write. */
#define TCP_SND_QUEUELEN            (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDQUEUELOWAT           (TCP_SND_QUEUELEN / 2)
#define TCP_QUEUE_OOSEQ             1
#define TCP_LISTEN_BACKLOG          0
/* TIME_WAIT lasts 2 x MSL: short, the clients are in the same namespace. */
#define TCP_MSL                     2000UL
#define LWIP_TCP_KEEPALIVE          0
#define LWIP_TCP_TIMESTAMPS         0
/* Copied writes (the HTTP header) may fill a segment's spare room (only for copied data). */
#define TCP_OVERSIZE                TCP_MSS

/* ---- checksums: all in software (net_tap offers no offload we use) ------------------------ */
#define CHECKSUM_GEN_IP             1
#define CHECKSUM_GEN_TCP            1
#define CHECKSUM_CHECK_IP           1
#define CHECKSUM_CHECK_TCP          1

/* ---- netif ------------------------------------------------------------------------------- */
#define LWIP_NETIF_TX_SINGLE_PBUF   0
#define LWIP_NETIF_STATUS_CALLBACK  0
#define LWIP_NETIF_LINK_CALLBACK    0
#define LWIP_NETIF_HOSTNAME         0

/* ---- statistics and debug ---------------------------------------------------------------- */
#define LWIP_STATS                  0
#define LWIP_DEBUG                  0

#endif /* ELASTIC_FILESERVE_LWIPOPTS_H */
