// SPDX-License-Identifier: GPL-2.0
/*
 * splicecheck's eBPF TCP splice datapath (Maltz & Bhagwat, "TCP Splicing for Application Layer Proxy
 * Performance", §3.3-§3.4), a tc (clsact ingress) program on both of the proxy's interfaces.
 *
 * For an IPv4 or IPv6 TCP segment whose 4-tuple is a key of `splices` (written by the proxy: one entry per
 * direction of each splice), it does, in the order of the reference model (reference/relay.py):
 *   1. malformed IP/TCP headers or option areas: dropped (what reaches the splice must decode);
 *   2. TTL/hop limit <= 1: dropped, else decremented (no ICMP time exceeded: it cannot send one);
 *   3. trim: the sequence numbers preceding in.splice_irs along the stream (judged with the
 *      direction's advance, mapping.trim_count) are chopped off the front - SYN, data prefix, FIN -
 *      the urgent pointer shifted or URG cleared; nothing left: a pure ACK at the base, or dropped
 *      (RST or no ACK);
 *   4. seq, ack (ACK set only) mapped mod 2^32; window rescaled (RFC 7323 §2.3); timestamps mapped
 *      (§3.4.1) or overwritten with NOPs, SACK blocks mapped and clipped at out.splice_irs (§3.4.3)
 *      or overwritten with NOPs, window scale overwritten with NOPs; addresses and ports rewritten;
 *      IPv4 options removed;
 *   5. checksums by RFC 1624 eqn. 3 over the words that changed (pseudo-header, the headers, the
 *      chopped prefix): a corrupt input stays corrupt, the payload is never summed; a partial checksum
 *      (the sender offloads it: TSO, GRO) gets the new pseudo-header sum only;
 *   6. the advance of the direction moved (mapping.advance_to), and the segment redirected out of
 *      the other interface to the other end host's MAC.
 * Anything else (other 4-tuples, ICMP, IPv6 extension headers) goes to the stack untouched (TC_ACT_OK).
 * A segment larger than the out peer's MSS (DF set) is turned into the ICMP error its sender gets instead
 * (§3.4.4, mss_icmp). Not done: removing (rather than NOP-ing) options.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN_ 14
#define ETH_ZLEN_ 60 /* the shortest Ethernet frame without its FCS: shorter ones are padded */
#define HALF 0x80000000u
#define MAX_WINDOW (1u << 30)
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20
#define CHUNK 256
#define TAIL_MAX 16000  /* below BPF_SKB_MAX_LEN (SKB_MAX_ALLOC: four pages less the shared info) */
#define FRONT_MAX 30000 /* below the headroom the receive path accepts */
#define ROOM_STEP 4092  /* bpf_skb_adjust_room moves at most 0xfff bytes a call */

struct splice_key {
	__u8 saddr[16], daddr[16]; /* as on the wire; an IPv4 address in the first 4 bytes, zeros after */
	__u16 sport, dport;        /* network order */
};

struct splice_dir {
	__u8 out_dmac[6], out_smac[6];
	__u32 out_ifindex;
	__u8 out_saddr[16], out_daddr[16]; /* as in the key */
	__u16 out_sport, out_dport; /* network order */
	__u32 in_irs, out_iss, in_iss, out_irs; /* host order, as every number below */
	__u32 in_lastrecv_ts, out_lastsent_ts, in_lastsent_ts, out_lastrecv_ts;
	__u8 ts_map, sack_map, in_shift, out_shift;
	__u32 adv_slot, back_slot; /* this direction's and the other one's advance in `advances` */
	__u32 closed; /* set by the datapath on both directions once it relays a RST */
	__u32 watch_ok; /* client->server only, while the OK message is unacknowledged: watch for its ACK */
	__u32 complete; /* set by the datapath on the ACK covering the whole OK message (paper §3) */
	__u32 fin_end, fin_seen, fin_acked; /* this direction's relayed FIN: its end (out space), whether the
	                                      * other end host acknowledged it (the proxy ends the splice on its
	                                      * timer once both are: RFC 9293 §3.6, TIME-WAIT) */
	__u32 ok_una; /* client->server while watch_ok: the first OK-message byte the client has not acknowledged */
	__u32 out_mss; /* the MSS the out peer announced (§3.4.4); 0: not enforced */
};

/* Held segments (DONT_ACK, paper §3): a 4-tuple in `holds` with no splice yet has its segments that
 * occupy sequence space (data, SYN, FIN) copied, Ethernet header and all, into the `held` queue and
 * dropped: neither delivered to the proxy's socket nor acknowledged by it. Pure ACKs and RSTs go to the
 * socket (the proxy's own TCP). The proxy releases the queue, in arrival order, into the datapath once
 * the splice is written (it sends each frame into a veth of the proxy namespace whose ingress runs this
 * program). */
#define HOLD_MAX 2048
struct held_frame {
	__u32 len;
	__u8 data[HOLD_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct splice_key);
	__type(value, __u32);
} holds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 256);
	__uint(key_size, 0);
	__uint(value_size, sizeof(struct held_frame));
} held SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct held_frame);
} holdbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct splice_key);
	__type(value, struct splice_dir);
} splices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} advances SEC(".maps");

/* what each verdict was, for the proxy's statistics (index: enum below) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 11);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

enum { C_RELAYED, C_DROP_MALFORMED, C_DROP_TTL, C_DROP_BELOW_BASE, C_DROP_ERROR, C_PASS, C_DROP_CLOSED, C_DROP_TOO_LARGE,
       C_HELD, C_HOLD_LOST, C_MSS_ICMP };

static __always_inline void count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &what);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* mapping.behind_base: x precedes base in a stream that has advanced `adv` (0..2^31) past it */
static __always_inline int behind_base(__u32 x, __u32 base, __u32 adv)
{
	__u32 room = HALF - adv;
	return (__u32)(x - base + room) < room;
}

/* mapping.advance_to */
static __always_inline __u32 advance_to(__u32 adv, __u32 base, __u32 end)
{
	__u32 step = end - base - adv;
	if ((__u32)(step - 1) < MAX_WINDOW) {
		__u64 a = (__u64)adv + step;
		return a > HALF ? HALF : (__u32)a;
	}
	return adv;
}

static __always_inline __u32 fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u32)s;
}

/* one's complement sum (mod 0xffff, big-endian words) of a stack buffer of len bytes, len % 4 == 0 */
static __always_inline __u32 be_sum(void *buf, __u32 len)
{
	__s64 s = bpf_csum_diff(0, 0, buf, len, 0);
	if (s < 0)
		return 0x10000; /* never a valid sum: the caller drops */
	return bpf_ntohs((__u16)fold((__u64)s)) % 0xffff;
}

/* an index into a 64-byte header buffer, masked where the verifier sees it (clang drops a plain `& 63`
 * it can prove redundant, and the verifier then cannot bound the access) */
static __always_inline __u32 idx(__u32 x)
{
	asm volatile("%0 &= 63" : "+r"(x));
	return x;
}

static __always_inline __u32 rd32(__u8 *b, __u32 i)
{
	return ((__u32)b[idx(i)] << 24) | ((__u32)b[idx(i + 1)] << 16) | ((__u32)b[idx(i + 2)] << 8) |
	       (__u32)b[idx(i + 3)];
}

static __always_inline void wr32(__u8 *b, __u32 i, __u32 v)
{
	b[idx(i)] = v >> 24;
	b[idx(i + 1)] = v >> 16;
	b[idx(i + 2)] = v >> 8;
	b[idx(i + 3)] = v;
}

static __always_inline void nops(__u8 *th, __u32 from, __u32 n)
{
	for (int k = 0; k < 40; k++) {
		if ((__u32)k >= n)
			break;
		th[idx(from + k)] = 1;
	}
}

/* The option walk: the TCP header, where the walk is, and what it needs (in the scratch map). */
struct opt_walk {
	__u8 th[64];
	__u32 i, doff, in_iss, out_irs, ts_in_recv, ts_out_sent, ts_in_sent, ts_out_recv, back;
	__u8 ts_map, sack_map, bad, pad;
};

/* per-CPU scratch space (the BPF stack is 512 bytes for all frames together) */
struct chunk {
	__u8 b[CHUNK];
	__u8 iph[64]; /* the IP header as received (sc_splice's) */
	__u8 nip[40]; /* the IP header relayed */
	struct opt_walk w; /* the TCP header being rewritten (sc_splice's) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct chunk);
} scratch SEC(".maps");

static __always_inline int opt_step(struct opt_walk *w)
{
	__u8 *th = w->th;
	__u32 i = w->i, doff = w->doff;
	if (i >= doff || i >= 60)
		return 1;
	__u32 kind = th[idx(i)];
	if (kind == 1) {
		w->i = i + 1;
		return 0;
	}
	if (kind == 0)
		return 1;
	if (i + 1 >= doff) {
		w->bad = 1;
		return 1;
	}
	__u32 len = th[idx(i + 1)];
	if (len < 2 || i + len > doff) {
		w->bad = 1;
		return 1;
	}
	if (kind == 8 && len == 10) {
		if (w->ts_map) {
			__u32 tsval = rd32(th, i + 2), tsecr = rd32(th, i + 6);
			wr32(th, i + 2, tsval - w->ts_in_recv + w->ts_out_sent);
			wr32(th, i + 6, tsecr - w->ts_in_sent + w->ts_out_recv);
		} else {
			nops(th, i, 10);
		}
	} else if (kind == 5 && len >= 10 && ((len - 2) & 7) == 0) {
		__u32 nb = (len - 2) >> 3, kept = 0;
		__u32 edges[8] = {};
		if (w->sack_map) {
			for (int b = 0; b < 4; b++) {
				if ((__u32)b >= nb)
					break;
				__u32 left = rd32(th, i + 2 + 8 * b), right = rd32(th, i + 6 + 8 * b);
				if (behind_base(right - 1, w->in_iss, w->back))
					continue;
				if (behind_base(left, w->in_iss, w->back))
					left = w->in_iss;
				edges[(2 * kept) & 7] = left - w->in_iss + w->out_irs;
				edges[(2 * kept + 1) & 7] = right - w->in_iss + w->out_irs;
				kept++;
			}
		}
		if (!kept) {
			nops(th, i, len);
		} else {
			th[idx(i + 1)] = 2 + 8 * kept;
			for (int b = 0; b < 4; b++) {
				if ((__u32)b >= kept)
					break;
				wr32(th, i + 2 + 8 * b, edges[(2 * b) & 7]);
				wr32(th, i + 6 + 8 * b, edges[(2 * b + 1) & 7]);
			}
			nops(th, i + 2 + 8 * kept, 8 * (nb - kept));
		}
	} else if (kind == 3 && len == 3) {
		nops(th, i, 3);
	}
	w->i = i + len;
	return 0;
}

/* bpf_loop's step: the walk lives in the per-CPU scratch map, whose contents the verifier does not
 * track, so `i` read back from it is a range, not a number, and the step is verified for each kind
 * of option rather than for each layout */
static int opt_cb(__u32 index, void *ctx)
{
	__u32 zero = 0;
	struct chunk *scr = bpf_map_lookup_elem(&scratch, &zero);
	if (!scr)
		return 1;
	return opt_step(&scr->w);
}

/* the sum of `len` packet bytes from `off` (the chopped prefix), word pairs counted from `off`, or -1.
 * A global function: the verifier checks it once, not on every path of the caller. */
__attribute__((noinline)) int chopped_sum(struct __sk_buff *skb, __u32 off, __u32 len)
{
	__u32 zero = 0;
	struct chunk *c = bpf_map_lookup_elem(&scratch, &zero);
	if (!c || !skb)
		return -1;
	__u8 *buf = c->b;
	__u64 sum = 0;
	__u32 done = 0;
	for (int i = 0; i < 65536 / CHUNK; i++) {
		if (done >= len)
			break;
		__u32 n = len - done;
		if (n >= CHUNK) {
			if (bpf_skb_load_bytes(skb, off + done, buf, CHUNK)) 
				return -1;
			__s64 s = bpf_csum_diff(0, 0, (void *)buf, CHUNK, 0);
			if (s < 0) 
				return -1;
			sum += (__u32)s;
			done += CHUNK;
			continue;
		}
		__builtin_memset(buf, 0, CHUNK);
		n = len - done - 1; /* 0..CHUNK-2 here; the bound 1..CHUNK is restated at the call for the verifier */
		asm volatile("%0 &= 0xff; %0 += 1" : "+r"(n));
		if (bpf_skb_load_bytes(skb, off + done, buf, n)) 
			return -1;
		__u32 padded = n - 1; /* n rounded up to whole words (zeros: RFC 1071's padding), 4..CHUNK */
		asm volatile("%0 &= 0xff; %0 >>= 2; %0 += 1; %0 <<= 2" : "+r"(padded));
		__s64 s = bpf_csum_diff(0, 0, (void *)buf, padded, 0);
		if (s < 0) 
			return -1;
		sum += (__u32)s;
		break; /* the last, partial chunk */
	}
	return bpf_ntohs((__u16)fold(sum)) % 0xffff;
}

/* Move `len` packet bytes from `src` down to `dst` (< src), front to back, through the scratch chunk:
 * the payload left after a chopped prefix, moved up against the TCP header; 0 or -1. The chop is
 * done this way, and the tail then cut, rather than by removing bytes behind the IP header: that
 * pulls the head forward, and a headroom past what the stack accepts (kfree_skb reason SKB_RX_HEADROOM,
 * from ~32 KiB on) makes the receiving veth drop the redirected packet. */
__attribute__((noinline)) int move_down(struct __sk_buff *skb, __u32 dst, __u32 src, __u32 len)
{
	__u32 zero = 0;
	struct chunk *c = bpf_map_lookup_elem(&scratch, &zero);
	if (!c || !skb)
		return -1;
	__u8 *buf = c->b;
	__u32 done = 0;
	for (int i = 0; i < 65536 / CHUNK; i++) {
		if (done >= len)
			break;
		if (len - done >= CHUNK) {
			if (bpf_skb_load_bytes(skb, src + done, buf, CHUNK) ||
			    bpf_skb_store_bytes(skb, dst + done, buf, CHUNK, 0))
				return -1;
			done += CHUNK;
			continue;
		}
		__u32 n = len - done - 1;
		asm volatile("%0 &= 0xff; %0 += 1" : "+r"(n));
		if (bpf_skb_load_bytes(skb, src + done, buf, n) || bpf_skb_store_bytes(skb, dst + done, buf, n, 0))
			return -1;
		return 0;
	}
	return done >= len ? 0 : -1;
}

/* DONT_ACK: a segment occupying sequence space is queued in `held` and dropped; others go to the socket */
static __always_inline int hold_segment(struct __sk_buff *skb, __u32 toff)
{
	__u8 fl[2];
	if (bpf_skb_load_bytes(skb, toff + 12, fl, 2))
		return TC_ACT_OK;
	__u32 doff = (fl[0] >> 4) * 4;
	__u32 occupies = (fl[1] & (F_SYN | F_FIN)) || skb->len > toff + doff;
	if (!occupies || (fl[1] & F_RST)) {
		count(C_PASS);
		return TC_ACT_OK;
	}
	__u32 zero = 0;
	struct held_frame *h = bpf_map_lookup_elem(&holdbuf, &zero);
	if (!h || skb->len > HOLD_MAX || skb->len < ETH_HLEN_ + 40) {
		count(C_HOLD_LOST);
		return TC_ACT_SHOT;
	}
	__u32 n = skb->len - 1;
	asm volatile("%0 &= 2047; %0 += 1" : "+r"(n));
	if (bpf_skb_load_bytes(skb, 0, h->data, n)) {
		count(C_HOLD_LOST);
		return TC_ACT_SHOT;
	}
	h->len = n;
	if (bpf_map_push_elem(&held, h, 0)) {
		count(C_HOLD_LOST);
		return TC_ACT_SHOT;
	}
	count(C_HELD);
	return TC_ACT_SHOT;
}

#define ICMP6_QUOTE_MAX 1232 /* RFC 4443 §2.4(c): the error must fit the IPv6 minimum MTU, 1280 */

/* §3.4.4: the offending segment, as received, turned into the ICMP error its sender gets in its place
 * (IPv4: destination unreachable, fragmentation needed, RFC 792 / RFC 1191 §4, quoting the IP header and
 * 8 bytes; IPv6: packet too big, RFC 4443 §3.2, quoting as much as fits 1280 bytes), from the proxy's
 * address on the sender's leg, TTL / hop limit 64. The caller has put the reply's Ethernet addresses in
 * the scratch map's `nip`, and the sum of the IPv6 quote in `qs` (the BPF stack has no room for another
 * call below this one), and redirects the packet out of the sender's leg. 0, or -1 (the caller drops). */
__attribute__((noinline)) int mss_icmp(struct __sk_buff *skb, __u32 v6, __u32 ihl, __u32 mtu, __u32 qs)
{
	__u32 zero = 0;
	struct chunk *c = bpf_map_lookup_elem(&scratch, &zero);
	if (!c || !skb)
		return -1;
	__u8 *b = c->b;
	if (!v6) {
		/* the IP header and 64 bits of its data: 28..68 bytes (28..91 as far as the verifier knows) */
		__u32 q = ihl + 8 - 28;
		asm volatile("%0 &= 63; %0 += 28" : "+r"(q));
		__builtin_memset(&b[28], 0, 68);
		if (bpf_skb_load_bytes(skb, ETH_HLEN_, &b[28], q))
			return -1;
		__u32 total = 28 + q;
		b[0] = 0x45;
		b[1] = 0;
		b[2] = total >> 8;
		b[3] = total;
		b[4] = b[5] = b[6] = b[7] = 0;
		b[8] = 64;
		b[9] = IPPROTO_ICMP;
		b[10] = b[11] = 0;
		__builtin_memcpy(&b[12], &b[28 + 16], 4); /* from the proxy's address the segment was sent to */
		__builtin_memcpy(&b[16], &b[28 + 12], 4); /* to its sender */
		b[20] = 3; /* destination unreachable */
		b[21] = 4; /* fragmentation needed and DF set */
		b[22] = b[23] = b[24] = b[25] = 0;
		b[26] = mtu >> 8;
		b[27] = mtu;
		__u32 isum = be_sum(&b[20], 76); /* the message; the zeros after the quote add nothing */
		__u32 hsum = be_sum(b, 20);
		if (isum > 0xffff || hsum > 0xffff)
			return -1;
		isum = 0xffff - isum;
		hsum = 0xffff - hsum;
		b[22] = isum >> 8;
		b[23] = isum;
		b[10] = hsum >> 8;
		b[11] = hsum;
		if (bpf_skb_change_tail(skb, ETH_HLEN_ + total, 0))
			return -1;
		if (bpf_skb_store_bytes(skb, ETH_HLEN_, b, total, 0))
			return -1;
	} else {
		__u8 *addrs = c->iph; /* the caller is done with it */
		if (bpf_skb_load_bytes(skb, ETH_HLEN_ + 8, addrs, 32))
			return -1;
		__u32 q = skb->len - ETH_HLEN_;
		if (q > ICMP6_QUOTE_MAX)
			q = ICMP6_QUOTE_MAX;
		if (bpf_skb_adjust_room(skb, 48, BPF_ADJ_ROOM_MAC, 0))
			return -1;
		if (bpf_skb_change_tail(skb, ETH_HLEN_ + 48 + q, 0))
			return -1;
		__u32 plen = 8 + q;
		b[0] = 0x60;
		b[1] = b[2] = b[3] = 0;
		b[4] = plen >> 8;
		b[5] = plen;
		b[6] = 58; /* ICMPv6 */
		b[7] = 64;
		__builtin_memcpy(&b[8], &addrs[16], 16); /* from the proxy's address the segment was sent to */
		__builtin_memcpy(&b[24], &addrs[0], 16); /* to its sender */
		b[40] = 2; /* packet too big */
		b[41] = 0;
		b[42] = b[43] = 0;
		b[44] = mtu >> 24;
		b[45] = mtu >> 16;
		b[46] = mtu >> 8;
		b[47] = mtu;
		__u32 hdr = be_sum(&b[8], 40); /* both addresses and the ICMPv6 header */
		if (hdr > 0xffff)
			return -1;
		__u64 sum = (__u64)hdr + qs + plen + 58;
		__u32 csum = 0xffff - (__u32)(sum % 0xffff);
		b[42] = csum >> 8;
		b[43] = csum;
		if (bpf_skb_store_bytes(skb, ETH_HLEN_, b, 48, 0))
			return -1;
	}
	if (bpf_skb_store_bytes(skb, 0, c->nip, 12, 0))
		return -1;
	return 0;
}

SEC("tc")
int sc_splice(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct chunk *scr = bpf_map_lookup_elem(&scratch, &zero);
	if (!scr)
		return TC_ACT_OK;
	__u8 *iph = scr->iph;
	struct opt_walk *wp = &scr->w;
	__builtin_memset(wp, 0, sizeof(*wp));
	__u8 *th = wp->th;
	struct splice_key key = {};

	__u32 v6 = skb->protocol == bpf_htons(ETH_P_IPV6);
	if (!v6 && skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	__u32 ihl, total;
	if (v6) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN_, iph, 40))
			return TC_ACT_OK;
		if ((iph[0] >> 4) != 6 || iph[6] != IPPROTO_TCP) /* extension headers: not ours */
			return TC_ACT_OK;
		ihl = 40;
		total = 40 + (((__u32)iph[4] << 8) | iph[5]);
		__builtin_memcpy(key.saddr, &iph[8], 16);
		__builtin_memcpy(key.daddr, &iph[24], 16);
	} else {
		if (bpf_skb_load_bytes(skb, ETH_HLEN_, iph, 20))
			return TC_ACT_OK;
		if ((iph[0] >> 4) != 4 || iph[9] != IPPROTO_TCP)
			return TC_ACT_OK;
		ihl = (iph[0] & 15) * 4;
		if (ihl < 20 || ((iph[6] & 0x3f) | iph[7])) /* bad IHL: not ours; fragments: not ours */
			return TC_ACT_OK;
		total = ((__u32)iph[2] << 8) | iph[3];
		__builtin_memcpy(key.saddr, &iph[12], 4);
		__builtin_memcpy(key.daddr, &iph[16], 4);
	}
	__u16 ports[2];
	if (bpf_skb_load_bytes(skb, ETH_HLEN_ + ihl, ports, 4))
		return TC_ACT_OK;
	key.sport = ports[0];
	key.dport = ports[1];
	struct splice_dir *v = bpf_map_lookup_elem(&splices, &key);
	if (!v) {
		__u32 *hold = bpf_map_lookup_elem(&holds, &key);
		if (hold && *hold)
			return hold_segment(skb, ETH_HLEN_ + ihl);
		count(C_PASS);
		return TC_ACT_OK;
	}
	/* ---- a segment of a spliced pair: from here on it is relayed or dropped ---- */
	if (v->closed) { /* the splice ended with a relayed RST: nothing more is relayed (the model's CLOSED) */
		count(C_DROP_CLOSED);
		return TC_ACT_SHOT;
	}
	if (total < skb->len - ETH_HLEN_ && skb->len <= ETH_ZLEN_) {
		/* Ethernet padding of a short frame (IEEE 802.3 minimum 60 bytes): the IP layer trims it
		 * (ip_rcv, ipv6_rcv), and tc runs before the IP layer, so the datapath trims it here */
		if (bpf_skb_change_tail(skb, ETH_HLEN_ + total, 0))
			goto error;
	}
	if (total != skb->len - ETH_HLEN_ || total < ihl + 20)
		goto malformed;
	if (!v6 && ihl > 20 && bpf_skb_load_bytes(skb, ETH_HLEN_, iph, ihl & 63))
		goto malformed;
	__u32 ttl = v6 ? iph[7] : iph[8];
	if (ttl <= 1) {
		count(C_DROP_TTL);
		return TC_ACT_SHOT;
	}
	__u32 toff = ETH_HLEN_ + ihl;
	if (bpf_skb_load_bytes(skb, toff, th, 20))
		goto malformed;
	__u32 doff = (th[12] >> 4) * 4;
	__u32 tlen = total - ihl;
	if (doff < 20 || doff > tlen)
		goto malformed;
	if (doff > 20 && bpf_skb_load_bytes(skb, toff, th, doff & 63))
		goto malformed;
	__u32 data_len = tlen - doff;
	__u32 seq = rd32(th, 4), ack = rd32(th, 8);
	__u32 flags = th[13];
	__u32 window = ((__u32)th[14] << 8) | th[15];
	__u32 urgent = ((__u32)th[18] << 8) | th[19];

	/* the old words: pseudo-header, IP header and TCP header as received (checksums in place) */
	__u32 ip_old = v6 ? 0 : be_sum(iph, ihl & 63);
	__u32 tcp_old = be_sum(th, doff & 63);
	__u32 addr_old = be_sum(key.saddr, 32); /* both addresses (IPv4: zeros after them add nothing) */
	if (ip_old > 0xffff || tcp_old > 0xffff || addr_old > 0xffff)
		goto error;
	__u32 pseudo_old = addr_old + IPPROTO_TCP + tlen;
	/* A sender that offloads its checksum (CHECKSUM_PARTIAL: TSO, GRO's coalesced packets, veth peers
	 * with tx offload on) leaves in the field the pseudo-header sum only; whoever completes it later sums
	 * the TCP header and payload as they are then. tc cannot read ip_summed, so ask the kernel: a
	 * non-pseudo-header diff through bpf_l4_csum_replace changes the field exactly when it is not
	 * partial (inet_proto_csum_replace_by_diff), and the field is rewritten below either way. */
	if (bpf_l4_csum_replace(skb, toff + 16, 0, 1, 0))
		goto error;
	__u8 *probe = scr->nip; /* free until the new IP header is built (the stack is full) */
	if (bpf_skb_load_bytes(skb, toff + 16, probe, 2))
		goto error;
	__u32 partial = probe[0] == th[16] && probe[1] == th[17];
	__u32 field = ((__u32)th[16] << 8) | th[17];

	/* ---- options (before the trim changes nothing in them; SACK needs the other advance) ---- */
	__u32 *advp = bpf_map_lookup_elem(&advances, &v->adv_slot);
	__u32 *backp = bpf_map_lookup_elem(&advances, &v->back_slot);
	if (!advp || !backp)
		goto error;
	__u32 adv = *advp, back = *backp;
	wp->i = 20;
	wp->doff = doff;
	wp->in_iss = v->in_iss;
	wp->out_irs = v->out_irs;
	wp->ts_in_recv = v->in_lastrecv_ts;
	wp->ts_out_sent = v->out_lastsent_ts;
	wp->ts_in_sent = v->in_lastsent_ts;
	wp->ts_out_recv = v->out_lastrecv_ts;
	wp->ts_map = v->ts_map;
	wp->sack_map = v->sack_map;
	wp->back = back;
	bpf_loop(40, opt_cb, 0, 0);
	if (wp->bad)
		goto malformed;

	/* ---- trim (§3.3; mapping.trim_count, split_trim, map_urgent) ---- */
	__u32 syn = !!(flags & F_SYN), fin = !!(flags & F_FIN);
	__u32 seg_len = data_len + syn + fin;
	__u32 trimmed = 0, cut = 0;
	if (behind_base(seq, v->in_irs, adv)) {
		trimmed = v->in_irs - seq;
		if (trimmed > seg_len)
			trimmed = seg_len;
	}
	__u32 seq_in = seq;
	if (trimmed) {
		__u32 syn_n = syn && trimmed;
		__u32 after_syn = syn_n < trimmed ? trimmed - syn_n : 0;
		cut = after_syn < data_len ? after_syn : data_len;
		if (syn)
			flags &= ~F_SYN; /* the SYN survives only an empty trim */
		if (fin && trimmed > syn_n + data_len)
			flags &= ~F_FIN;
		if (flags & F_URG) {
			if (urgent <= trimmed) {
				flags &= ~F_URG;
				urgent = 0;
			} else {
				urgent -= trimmed;
			}
		}
		if (trimmed != seg_len) {
			seq += trimmed;
		} else {
			if ((flags & F_RST) || !(flags & F_ACK)) {
				count(C_DROP_BELOW_BASE);
				return TC_ACT_SHOT;
			}
			flags &= ~(F_PSH | F_URG);
			urgent = 0;
			seq = v->in_irs;
		}
	}
	__u32 chop = 0;
	if (cut) {
		int cs = chopped_sum(skb, toff + doff, cut);
		if (cs < 0)
			goto error;
		chop = cs;
	}

	/* ---- MSS (§3.4.4; the model's step 5): the data and the options that would leave count against the
	 * out peer's MSS (RFC 6691 §2); over IPv6 no Packet Too Big below 1280 (RFC 8201 §4). A partial
	 * checksum (TSO, GRO: a GSO packet is cut to the sender's segment size later) is relayed as it is. */
	__u32 mtu = v->out_mss + (v6 ? 60 : 40);
	__u32 df = v6 || (iph[6] & 0x40);
	if (v->out_mss && !partial && df && data_len - cut + (doff - 20) > v->out_mss && (!v6 || mtu >= 1280)) {
		struct splice_key *rk = (struct splice_key *)scr->nip; /* in the scratch map: the stack is full */
		rk->sport = v->out_dport;
		rk->dport = v->out_sport;
		__builtin_memcpy(rk->saddr, v->out_daddr, 16);
		__builtin_memcpy(rk->daddr, v->out_saddr, 16);
		struct splice_dir *rev = bpf_map_lookup_elem(&splices, rk); /* its out leg is the sender's */
		if (!rev)
			goto error;
		__u32 ifx = rev->out_ifindex;
		__builtin_memcpy(scr->nip, rev->out_dmac, 12);
		/* the probe's change undone (the ICMPv6 error quotes the checksum): th still holds the received one */
		if (bpf_skb_store_bytes(skb, toff + 16, &th[16], 2, 0))
			goto error;
		int qs = 0;
		if (v6) { /* the quote: as much of the packet as fits 1280 bytes, summed before it moves */
			__u32 q = skb->len - ETH_HLEN_;
			qs = chopped_sum(skb, ETH_HLEN_, q > ICMP6_QUOTE_MAX ? ICMP6_QUOTE_MAX : q);
			if (qs < 0)
				goto error;
		}
		if (mss_icmp(skb, v6, ihl, mtu, (__u32)qs))
			goto error;
		count(C_MSS_ICMP);
		return bpf_redirect(ifx, 0);
	}

	/* ---- the new headers ---- */
	__u32 seq_out = seq - v->in_irs + v->out_iss;
	__u32 ack_out = (flags & F_ACK) ? ack - v->in_iss + v->out_irs : ack;
	/* a SYN's window is never scaled (RFC 7323 section 2.2): the input's if it came with one, the
	 * output's if its SYN survived the trim */
	__u64 real = ((__u64)window << (syn ? 0 : v->in_shift)) & 0xffffffffull;
	real >>= (flags & F_SYN) ? 0 : v->out_shift;
	__u32 win_out = real > 0xffff ? 0xffff : (__u32)real;
	__u32 tlen_out = tlen - cut;
	__builtin_memcpy(&th[0], &v->out_sport, 2);
	__builtin_memcpy(&th[2], &v->out_dport, 2);
	wr32(th, 4, seq_out);
	wr32(th, 8, ack_out);
	th[13] = flags;
	th[14] = win_out >> 8;
	th[15] = win_out;
	th[16] = 0;
	th[17] = 0;
	th[18] = urgent >> 8;
	th[19] = urgent;
	__u32 tcp_new = be_sum(th, doff & 63);
	if (tcp_new > 0xffff)
		goto error;
	__u32 addr_new = be_sum(v->out_saddr, 32); /* out_saddr and out_daddr are contiguous */
	if (addr_new > 0xffff)
		goto error;
	__u32 pseudo_new = addr_new + IPPROTO_TCP + tlen_out;
	__u32 csum;
	if (partial) { /* the pseudo-header sum for the new addresses and length; the rest is summed later */
		csum = (field + pseudo_new % 0xffff + 0xffff - pseudo_old % 0xffff) % 0xffff;
	} else {
		__u64 old = (__u64)pseudo_old + tcp_old + chop;
		old %= 0xffff;
		if (cut & 1) /* the rest of the payload moved across a byte boundary: its sum times 256 */
			old = (old * 256) % 0xffff;
		__u64 new = ((__u64)pseudo_new + tcp_new) % 0xffff;
		csum = (__u32)((old + 0xffff - new) % 0xffff);
	}
	th[16] = csum >> 8;
	th[17] = csum;

	__u8 *nip = scr->nip;
	__u32 hl_out = v6 ? 40 : 20;
	if (v6) { /* version, traffic class and flow label kept; no header checksum */
		__builtin_memcpy(nip, iph, 4);
		nip[4] = tlen_out >> 8;
		nip[5] = tlen_out;
		nip[6] = IPPROTO_TCP;
		nip[7] = ttl - 1;
		__builtin_memcpy(&nip[8], v->out_saddr, 16);
		__builtin_memcpy(&nip[24], v->out_daddr, 16);
	} else {
		__u32 total_out = 20 + tlen_out;
		nip[0] = 0x45;
		nip[1] = iph[1];
		nip[2] = total_out >> 8;
		nip[3] = total_out;
		nip[4] = iph[4];
		nip[5] = iph[5];
		nip[6] = iph[6] & 0xe0; /* the flags; the offset is 0 (fragments are not ours) */
		nip[7] = 0;
		nip[8] = ttl - 1;
		nip[9] = IPPROTO_TCP;
		nip[10] = 0;
		nip[11] = 0;
		__builtin_memcpy(&nip[12], v->out_saddr, 4);
		__builtin_memcpy(&nip[16], v->out_daddr, 4);
		__u32 ip_new = be_sum(nip, 20);
		if (ip_new > 0xffff)
			goto error;
		__u32 ipsum = (ip_old + 0xffff - ip_new) % 0xffff;
		nip[10] = ipsum >> 8;
		nip[11] = ipsum;
	}

	/* ---- reshape: the chopped prefix out, then the IPv4 options ----
	 * A short result: the rest of the payload moved down against the TCP header and the tail cut
	 * (bpf_skb_change_tail refuses lengths above BPF_SKB_MAX_LEN, about 16 KB). A long one: the
	 * prefix removed from right after the IP header (20 bytes; IPv6: 40) with bpf_skb_adjust_room (at most 0xfff
	 * bytes a call), which advances the head: a headroom of more than about 32 KB makes the
	 * receiving veth drop the redirected packet (kfree_skb reason SKB_RX_HEADROOM), so a chop that
	 * large from a result that long is dropped and counted (a documented departure). The IPv4
	 * options (at most 40 bytes) always leave that second way. */
	__u32 front = ihl - hl_out;
	if (cut) {
		if (skb->len - cut <= TAIL_MAX) {
			if (move_down(skb, toff + doff, toff + doff + cut, data_len - cut))
				goto error;
			if (bpf_skb_change_tail(skb, skb->len - cut, 0))
				goto error;
		} else if (cut <= FRONT_MAX) {
			front += cut;
		} else {
			count(C_DROP_TOO_LARGE);
			return TC_ACT_SHOT;
		}
	}
	for (int k = 0; k < FRONT_MAX / ROOM_STEP + 2; k++) {
		if (!front)
			break;
		__u32 step = front > ROOM_STEP ? ROOM_STEP : front;
		/* a GSO packet keeps its segment size: the bytes removed are options and payload, not MSS */
		if (bpf_skb_adjust_room(skb, -(__s32)step, BPF_ADJ_ROOM_NET, BPF_F_ADJ_ROOM_FIXED_GSO))
			goto error;
		front -= step;
	}
	if (front)
		goto error;
	if (v6 ? bpf_skb_store_bytes(skb, ETH_HLEN_, nip, 40, 0) : bpf_skb_store_bytes(skb, ETH_HLEN_, nip, 20, 0))
		goto error;
	if (bpf_skb_store_bytes(skb, ETH_HLEN_ + hl_out, th, doff & 63, 0))
		goto error;
	if (bpf_skb_store_bytes(skb, 0, v->out_dmac, 12, 0))
		goto error;

	if (v->watch_ok && (flags & F_ACK)) {
		if (!behind_base(ack, v->in_iss, back))
			v->complete = 1; /* the client acknowledged the whole OK message: the splice is complete */
		if ((__s32)(ack - v->ok_una) > 0 && (__s32)(ack - v->in_iss) <= 0)
			v->ok_una = ack; /* part of it: the proxy retransmits from here on its timer */
	}
	__u32 moved = advance_to(adv, v->in_irs, seq_in + seg_len);
	if (moved != adv)
		*advp = moved;
	struct splice_key *back_key = (struct splice_key *)scr->nip; /* stored already: free again */
	back_key->sport = v->out_dport;
	back_key->dport = v->out_sport;
	__builtin_memcpy(back_key->saddr, v->out_daddr, 16);
	__builtin_memcpy(back_key->daddr, v->out_saddr, 16);
	struct splice_dir *other = bpf_map_lookup_elem(&splices, back_key);
	if (flags & F_FIN) { /* the FIN's end in the numbers the other end host acknowledges it with */
		v->fin_end = seq_out + (data_len - cut) + 1;
		v->fin_seen = 1;
	}
	if ((flags & F_ACK) && other && other->fin_seen && (__s32)(ack - other->fin_end) >= 0)
		other->fin_acked = 1; /* this segment acknowledges the other direction's FIN */
	if (flags & F_RST) { /* a relayed RST ends the splice, both directions */
		v->closed = 1;
		if (other)
			other->closed = 1;
	}
	count(C_RELAYED);
	return bpf_redirect(v->out_ifindex, 0);

malformed:
	count(C_DROP_MALFORMED);
	return TC_ACT_SHOT;
error:
	count(C_DROP_ERROR);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
