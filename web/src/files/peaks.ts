/**
 * The waveform of a recording: its peaks computed in the browser from the decoded audio
 * (Web Audio `decodeAudioData` at the telephony rate, so an hour is not inflated to 48 kHz).
 */

/** Recordings larger than this are not fetched a second time for their waveform (~17 min). */
export const MAX_WAVEFORM_BYTES = 16 * 1024 * 1024;
/** The file base's audio is 8 kHz; decoding at that rate keeps the samples few. */
const DECODE_RATE = 8000;

/** `buckets` peaks (0..1): the largest absolute sample of each slice, over every channel. */
export function peaks(channels: readonly Float32Array[], buckets: number): number[] {
  const length = Math.max(0, ...channels.map((channel) => channel.length));
  if (length === 0 || buckets <= 0) return [];
  const result = new Array<number>(buckets).fill(0);
  const size = length / buckets;
  for (const channel of channels) {
    for (let bucket = 0; bucket < buckets; bucket += 1) {
      const end = Math.min(channel.length, Math.floor((bucket + 1) * size));
      let peak = result[bucket] ?? 0;
      for (let index = Math.floor(bucket * size); index < end; index += 1) {
        const value = Math.abs(channel[index] ?? 0);
        if (value > peak) peak = value;
      }
      result[bucket] = Math.min(1, peak);
    }
  }
  return result;
}

/** The time (s) of a click at `x` px of a waveform `width` px wide, for a recording of `duration` s. */
export function seekTime(x: number, width: number, duration: number): number {
  if (!(width > 0) || !Number.isFinite(duration) || duration <= 0) return 0;
  return Math.min(duration, Math.max(0, (x / width) * duration));
}

/** Whether this browser can decode audio for a waveform (jsdom and old browsers cannot). */
export function canDecode(): boolean {
  return typeof globalThis.OfflineAudioContext === 'function';
}

/** Fetch the audio at `url` (the player's short-lived link) and compute its peaks; null if too big. */
export async function loadPeaks(url: string, buckets: number, signal: AbortSignal): Promise<number[] | null> {
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const declared = Number(response.headers.get('Content-Length') ?? 0);
  if (declared > MAX_WAVEFORM_BYTES) {
    await response.body?.cancel();
    return null;
  }
  const bytes = await response.arrayBuffer();
  if (bytes.byteLength > MAX_WAVEFORM_BYTES) return null;
  const context = new OfflineAudioContext(1, 1, DECODE_RATE);
  const audio = await context.decodeAudioData(bytes);
  const channels = Array.from({ length: audio.numberOfChannels }, (_, index) => audio.getChannelData(index));
  return peaks(channels, buckets);
}
