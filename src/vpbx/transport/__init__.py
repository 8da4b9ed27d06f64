"""The asyncio edge: sockets for SIP (UDP, TCP) and, later, RTP."""
