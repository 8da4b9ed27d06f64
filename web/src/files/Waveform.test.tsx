import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { createRef } from 'react';
import '../i18n';
import { setLanguage } from '../i18n';
import { Waveform } from './Waveform';

const drawn: string[] = [];

beforeEach(async () => {
  await setLanguage('ru');
  drawn.length = 0;
  // jsdom has neither Web Audio nor a 2D canvas: a decoder of 8 samples and a recording canvas
  vi.stubGlobal(
    'OfflineAudioContext',
    class {
      decodeAudioData(): Promise<unknown> {
        const samples = new Float32Array([0, 0.5, 0, 1, 0, 0.25, 0, 0.75]);
        return Promise.resolve({ numberOfChannels: 1, getChannelData: () => samples });
      }
    },
  );
  vi.stubGlobal('fetch', () => Promise.resolve(new Response(new Uint8Array(16), { headers: { 'Content-Length': '16' } })));
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockImplementation(
    () =>
      ({
        scale: () => undefined,
        clearRect: () => undefined,
        set fillStyle(value: string) {
          drawn.push(value);
        },
        fillRect: () => undefined,
      }) as unknown as CanvasRenderingContext2D,
  );
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('the waveform under the player', () => {
  it('draws the peaks and seeks the audio where it is clicked, or by the arrow keys', async () => {
    const audio = createRef<HTMLAudioElement>();
    render(
      <>
        <audio ref={audio} />
        <Waveform
          src="http://localhost/api/v1/files/9/content?link=x"
          audio={audio}
          onSeek={(seconds) => {
            if (audio.current) audio.current.currentTime = seconds;
          }}
        />
      </>,
    );
    const element = audio.current;
    if (element === null) throw new Error('no audio element');
    Object.defineProperty(element, 'duration', { value: 60 });
    fireEvent(element, new Event('durationchange'));

    const waveform = await screen.findByRole('slider', { name: /Волновая форма записи/ });
    await waitFor(() => expect(drawn.length).toBeGreaterThan(0));
    vi.spyOn(waveform, 'getBoundingClientRect').mockReturnValue(DOMRect.fromRect({ x: 100, y: 0, width: 480, height: 40 }));
    fireEvent.click(waveform, { clientX: 100 + 240 });
    expect(element.currentTime).toBe(30);
    fireEvent(element, new Event('timeupdate'));
    await waitFor(() => expect(waveform).toHaveAttribute('aria-valuenow', '30'));
    expect(drawn).toContain('#1677ff'); // the played half
    fireEvent.keyDown(waveform, { key: 'ArrowRight' });
    expect(element.currentTime).toBe(35);
  });

  it('is not shown where the browser cannot decode audio (the player alone plays)', () => {
    vi.stubGlobal('OfflineAudioContext', undefined);
    const audio = createRef<HTMLAudioElement>();
    render(<Waveform src="http://localhost/x" audio={audio} onSeek={() => undefined} />);
    expect(screen.queryByRole('slider')).toBeNull();
  });
});
