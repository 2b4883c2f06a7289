//! End-to-end tests across processes: several daemons, invite and join, partitions and NAT in
//! network namespaces, crash and restart; load and latency benchmarks. Not needed to build the
//! daemon. The ledger's own simulator and property tests live beside it in `server/ledger/tests`.
