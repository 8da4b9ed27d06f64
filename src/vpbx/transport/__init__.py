"""The asyncio edge: sockets for SIP (UDP, TCP) and, later, RTP; the API's HTTP port bound
with retries while a dying process still holds it (`listen`)."""
