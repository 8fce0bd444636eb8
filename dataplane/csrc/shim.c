/* See shim.h: linkable wrappers over DPDK's static inline fast path. */
#include "shim.h"

uint16_t shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void shim_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void shim_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count)
{
	rte_pktmbuf_free_bulk(mbufs, count);
}

char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }

void *shim_pktmbuf_mtod(const struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }

uint16_t shim_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }

uint32_t shim_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }

uint16_t shim_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

struct rte_mbuf *shim_pktmbuf_next(const struct rte_mbuf *m) { return m->next; }

uint16_t shim_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

int shim_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail)
{
	return rte_pktmbuf_chain(head, tail);
}

uint64_t shim_pktmbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }

unsigned shim_mempool_avail_count(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }

int shim_errno(void) { return rte_errno; }

unsigned shim_lcore_id(void) { return rte_lcore_id(); }

uint64_t shim_rss_hf_ip_tcp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP; }

uint64_t shim_rx_offload_checksum(void)
{
	return RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
}

uint64_t shim_tx_offload_mbuf_fast_free(void) { return RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE; }

int shim_rx_cksum_good(const struct rte_mbuf *m, int ipv4)
{
	uint64_t f = m->ol_flags;
	if ((f & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return 0;
	return !ipv4 || (f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
}

uint32_t shim_mq_rx_rss(void) { return RTE_ETH_MQ_RX_RSS; }

uint32_t shim_mq_rx_none(void) { return RTE_ETH_MQ_RX_NONE; }
