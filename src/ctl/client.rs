//! Client side of the control protocol: connect, send a request, read replies and streams.
