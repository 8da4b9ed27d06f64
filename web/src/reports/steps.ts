// How a call's steps (CDR-2) look on the timeline.

/** A step's colour on the timeline: failures red, answers and successes green, the rest blue. */
export function stepColor(kind: string): string {
  if (/fail|block|reject|refus|toll_fraud|busy|lost|timeout|error|interrupt/.test(kind)) return 'red';
  if (/answer|connect|bridge|done|transfer_done|voicemail|record|rated|tag/.test(kind)) return 'green';
  if (/ring|dial|queue|wait/.test(kind)) return 'orange';
  return 'blue';
}

/** `2026-03-10T09:00:03.250Z` → the local time with seconds (and the day when it is not `day`). */
export function stepTime(at: string, language: string): string {
  return new Date(at).toLocaleTimeString(language === 'en' ? 'en-GB' : 'ru-RU', {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

