import Chain
// P2P: the socket event loop, HTTP/1.1 server and client, and (later) the JSON-lines peer protocol.
