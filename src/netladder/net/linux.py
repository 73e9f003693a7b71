"""Every Linux constant netladder needs that Python's `socket` module lacks: one table, each
value beside the header it comes from (include/uapi/…, as installed by linux-libc-dev).

Only `net/` opens and reads sockets, so only `net/` should need these; a prober that still
sets a socket option itself imports it from here, never writes the number again.  The values
are those of asm-generic (x86-64, arm64, riscv); alpha, mips, parisc and sparc differ for the
SO_* options and are not supported.
"""

from __future__ import annotations

__all__ = [
    "ETH_P_ARP",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "ICMP6_FILTER",
    "ICMP_FILTER",
    "IPV6_CHECKSUM",
    "IPV6_DONTFRAG",
    "IPV6_HOPLIMIT",
    "IPV6_MTU",
    "IPV6_MTU_DISCOVER",
    "IPV6_RECVERR",
    "IPV6_RECVHOPLIMIT",
    "IP_MTU",
    "IP_MTU_DISCOVER",
    "IP_PMTUDISC_DO",
    "IP_PMTUDISC_DONT",
    "IP_RECVERR",
    "IP_RECVTTL",
    "PACKET_BROADCAST",
    "PACKET_HOST",
    "PACKET_MULTICAST",
    "PACKET_OTHERHOST",
    "PACKET_OUTGOING",
    "PACKET_STATISTICS",
    "SCM_TIMESTAMPNS",
    "SOL_PACKET",
    "SO_EE_ORIGIN_ICMP",
    "SO_EE_ORIGIN_ICMP6",
    "SO_EE_ORIGIN_LOCAL",
    "SO_EE_ORIGIN_NONE",
    "SO_MEMINFO",
    "SO_RCVBUFFORCE",
    "SO_TIMESTAMPNS",
    "TCP_INFO_RTT_OFFSET",
    "TCP_INFO_SIZE",
    "TCP_STATE_ESTABLISHED",
    "TCP_STATE_SYN_SENT",
]

# include/uapi/linux/in.h
IP_MTU_DISCOVER = 10
IP_RECVERR = 11
IP_RECVTTL = 12
IP_MTU = 14
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2

# include/uapi/linux/in6.h
IPV6_CHECKSUM = 7
IPV6_MTU_DISCOVER = 23
IPV6_MTU = 24
IPV6_RECVERR = 25
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
IPV6_DONTFRAG = 62

# include/uapi/linux/icmp.h, include/uapi/linux/icmpv6.h (the raw socket's type filters)
ICMP_FILTER = 1
ICMP6_FILTER = 1

# include/uapi/asm-generic/socket.h
SO_RCVBUFFORCE = 33  # SO_RCVBUF beyond net.core.rmem_max, with CAP_NET_ADMIN
SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD: a struct timespec of CLOCK_REALTIME per datagram
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
SO_MEMINFO = 55  # the first u32 is SK_MEMINFO_RMEM_ALLOC (include/uapi/linux/sock_diag.h)

# include/uapi/linux/errqueue.h (struct sock_extended_err.ee_origin)
SO_EE_ORIGIN_NONE = 0
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

# include/uapi/linux/if_ether.h
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD

# include/linux/socket.h, include/uapi/linux/if_packet.h
SOL_PACKET = 263
PACKET_STATISTICS = 6  # struct tpacket_stats: tp_packets, tp_drops
PACKET_HOST = 0  # sll_pkttype: to us
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4  # our own frame, looped back to the packet socket

# include/uapi/linux/tcp.h (struct tcp_info), include/net/tcp_states.h
TCP_INFO_SIZE = 104  # up to tcpi_rcv_space: every field read here, on every kernel since 3.x
TCP_INFO_RTT_OFFSET = 68  # tcpi_rtt, µs
TCP_STATE_ESTABLISHED = 1  # tcpi_state, the first byte of struct tcp_info
TCP_STATE_SYN_SENT = 2
