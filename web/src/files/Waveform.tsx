/**
 * The waveform under a player: peaks drawn on a canvas, the played part darker, click (or the
 * arrow keys) to seek. The `<audio>` element stays the player; this follows its time and asks it to seek.
 */
import { useEffect, useRef, useState, type KeyboardEvent, type MouseEvent, type RefObject } from 'react';
import { useTranslation } from 'react-i18next';
import { canDecode, loadPeaks, seekTime } from './peaks';

const WIDTH = 480;
const HEIGHT = 40;
const BARS = 160;
const STEP_SECONDS = 5;

function draw(canvas: HTMLCanvasElement, bars: readonly number[], played: number): void {
  const context = canvas.getContext('2d');
  if (context === null) return;
  const ratio = globalThis.devicePixelRatio || 1;
  canvas.width = WIDTH * ratio;
  canvas.height = HEIGHT * ratio;
  context.scale(ratio, ratio);
  context.clearRect(0, 0, WIDTH, HEIGHT);
  const bar = WIDTH / bars.length;
  bars.forEach((peak, index) => {
    const height = Math.max(1, peak * (HEIGHT - 2));
    context.fillStyle = (index + 0.5) / bars.length <= played ? '#1677ff' : '#bfbfbf';
    context.fillRect(index * bar, (HEIGHT - height) / 2, Math.max(1, bar - 1), height);
  });
}

export function Waveform({
  src,
  audio,
  onSeek,
}: {
  src: string;
  /** the player, whose time the waveform follows */
  audio: RefObject<HTMLAudioElement | null>;
  /** move the player to this time (s) */
  onSeek: (seconds: number) => void;
}) {
  const { t } = useTranslation();
  const canvas = useRef<HTMLCanvasElement>(null);
  const [bars, setBars] = useState<number[] | null>(null);
  const [time, setTime] = useState({ current: 0, duration: 0 });

  useEffect(() => {
    if (!canDecode()) return;
    const abort = new AbortController();
    loadPeaks(src, BARS, abort.signal).then(
      (found) => setBars(found),
      () => setBars(null), // no waveform; the player itself still plays
    );
    return () => abort.abort();
  }, [src]);

  useEffect(() => {
    const element = audio.current;
    if (element === null) return;
    const update = () => setTime({ current: element.currentTime, duration: Number.isFinite(element.duration) ? element.duration : 0 });
    const events = ['timeupdate', 'durationchange', 'loadedmetadata', 'seeked'] as const;
    for (const name of events) element.addEventListener(name, update);
    update();
    return () => {
      for (const name of events) element.removeEventListener(name, update);
    };
  }, [audio, bars]);

  const played = time.duration > 0 ? time.current / time.duration : 0;
  useEffect(() => {
    if (canvas.current !== null && bars !== null) draw(canvas.current, bars, played);
  }, [bars, played]);

  if (bars === null) return null;
  const seek = (seconds: number) => {
    if (time.duration > 0) onSeek(Math.min(time.duration, Math.max(0, seconds)));
  };
  const onClick = (event: MouseEvent<HTMLCanvasElement>) => {
    const box = event.currentTarget.getBoundingClientRect();
    seek(seekTime(event.clientX - box.left, box.width, time.duration));
  };
  const onKeyDown = (event: KeyboardEvent<HTMLCanvasElement>) => {
    const delta = { ArrowRight: STEP_SECONDS, ArrowLeft: -STEP_SECONDS }[event.key];
    if (delta === undefined) return;
    event.preventDefault();
    seek(time.current + delta);
  };
  return (
    <canvas
      ref={canvas}
      data-testid="waveform"
      role="slider"
      tabIndex={0}
      aria-label={t('player.waveform')}
      aria-valuemin={0}
      aria-valuemax={Math.round(time.duration)}
      aria-valuenow={Math.round(time.current)}
      onClick={onClick}
      onKeyDown={onKeyDown}
      style={{ display: 'block', width: WIDTH, maxWidth: '100%', height: HEIGHT, cursor: 'pointer' }}
    />
  );
}
