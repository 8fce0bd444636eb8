//! Sans-IO RFC 4975 endpoint: transactions, chunking, reassembly, reports, timers.
