"""Media: RTP/RTCP, G.711, RFC 4733 DTMF, tones, prompts, recording, bridging and mixing."""
