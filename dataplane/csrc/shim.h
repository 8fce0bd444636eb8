/*
 * C shim over DPDK 22.11 for the Rust DPDK backend (dataplane/src/net/dpdk).
 *
 * DPDK's fast path (rx/tx burst, mbuf alloc/free/append, rte_errno) is made of `static inline`
 * functions and macros that bindgen cannot bind; these wrappers give them a linkable symbol.
 * The constants DPDK defines with function-like macros (RTE_BIT64) are exposed as functions too.
 * Every wrapper is a one-liner: the logic lives on the Rust side.
 */
#ifndef MSRP_DPDK_SHIM_H
#define MSRP_DPDK_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* rx/tx bursts */
uint16_t shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

/* mbufs */
struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *mp);
int shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count);
void shim_pktmbuf_free(struct rte_mbuf *m);
void shim_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count);
char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
void *shim_pktmbuf_mtod(const struct rte_mbuf *m);
uint16_t shim_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t shim_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t shim_pktmbuf_nb_segs(const struct rte_mbuf *m);
struct rte_mbuf *shim_pktmbuf_next(const struct rte_mbuf *m);
uint16_t shim_pktmbuf_tailroom(const struct rte_mbuf *m);
int shim_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
uint64_t shim_pktmbuf_ol_flags(const struct rte_mbuf *m);
/* 1 when the NIC verified the L4 checksum (and, for IPv4, the IP checksum) as good. */
int shim_rx_cksum_good(const struct rte_mbuf *m, int ipv4);
unsigned shim_mempool_avail_count(const struct rte_mempool *mp);

/* per-lcore state */
int shim_errno(void);
unsigned shim_lcore_id(void);

/* constants defined with function-like macros */
uint64_t shim_rss_hf_ip_tcp(void);
uint64_t shim_rx_offload_checksum(void);
uint64_t shim_tx_offload_mbuf_fast_free(void);
uint32_t shim_mq_rx_rss(void);
uint32_t shim_mq_rx_none(void);

#endif
