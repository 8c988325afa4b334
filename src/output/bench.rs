//! Throughput benchmark (ignored test).
