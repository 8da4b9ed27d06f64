import { peaks, seekTime } from './peaks';

describe('waveform peaks', () => {
  it('takes the largest absolute sample of each slice, over every channel', () => {
    const left = new Float32Array([0.1, -0.5, 0.2, 0.0, 0.9, -0.1, 0.0, 0.05]);
    const right = new Float32Array([0.0, 0.0, 0.0, -0.7, 0.0, 0.0, 0.0, 0.0]);
    expect(peaks([left], 4)).toEqual([0.5, 0.2, 0.9, 0.05].map((value) => Math.fround(value)));
    expect(peaks([left, right], 2)).toEqual([Math.fround(0.7), Math.fround(0.9)]);
  });

  it('spreads a short recording over more bars than it has samples, and caps at 1', () => {
    expect(peaks([new Float32Array([0.5, 2])], 4)).toEqual([0, 0.5, 0, 1]);
    expect(peaks([], 4)).toEqual([]);
    expect(peaks([new Float32Array(10)], 0)).toEqual([]);
  });
});

describe('click to seek', () => {
  it('maps the click to the time of the recording, within it', () => {
    expect(seekTime(120, 480, 60)).toBe(15);
    expect(seekTime(-5, 480, 60)).toBe(0);
    expect(seekTime(500, 480, 60)).toBe(60);
    expect(seekTime(10, 480, Number.NaN)).toBe(0); // duration not known yet
    expect(seekTime(10, 0, 60)).toBe(0);
  });
});
