import { Alert, Spin } from 'antd';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { fileLink, type Variant } from './api';
import { Waveform } from './Waveform';

/**
 * A file's audio played in the page: an <audio> element streaming the API's content URL with
 * range requests (seek, resume). The URL is a short-lived link (the element cannot send the bearer
 * token); when it lapses or fails, a new one is asked for once and playback goes on where it was.
 * Under it the recording's waveform (peaks decoded in the browser), click to seek.
 */
export function AudioPlayer({
  fileId,
  name,
  variant = 'converted',
  autoPlay = false,
}: {
  fileId: number;
  name: string;
  variant?: Variant;
  autoPlay?: boolean;
}) {
  const { t } = useTranslation();
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const renewed = useRef(false);
  const audio = useRef<HTMLAudioElement>(null);

  useEffect(() => {
    let live = true;
    renewed.current = false;
    fileLink(fileId, variant).then(
      (url) => live && setSrc(url),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [fileId, variant]);

  const onError = (): void => {
    if (renewed.current) {
      setFailed(true);
      return;
    }
    renewed.current = true;
    const at = audio.current?.currentTime ?? 0;
    fileLink(fileId, variant).then(
      (url) => {
        setSrc(url);
        if (audio.current) audio.current.currentTime = at;
      },
      () => setFailed(true),
    );
  };

  if (failed) return <Alert type="error" showIcon title={t('player.failed')} />;
  if (src === null) return <Spin size="small" description={t('player.loading')} />;
  return (
    <div style={{ display: 'inline-flex', flexDirection: 'column', gap: 4, maxWidth: '100%' }}>
      <audio
        ref={audio}
        data-testid={`player-${fileId}`}
        aria-label={t('player.label', { name })}
        controls
        preload="metadata"
        autoPlay={autoPlay}
        src={src}
        onError={onError}
        style={{ height: 32, maxWidth: '100%' }}
      />
      <Waveform
        src={src}
        audio={audio}
        onSeek={(seconds) => {
          if (audio.current) audio.current.currentTime = seconds;
        }}
      />
    </div>
  );
}
