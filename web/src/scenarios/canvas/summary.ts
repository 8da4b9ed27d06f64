/** The key settings of an operation in one or two short lines, for its node on the diagram. */
import type { TFunction } from 'i18next';
import { employeeName, type OperationContext } from '../operations/context';
import { targetKind, type Operation } from '../operations/model';

type Lists = Pick<OperationContext, 'files' | 'employees' | 'groups' | 'scenarios' | 'segments'>;

const cut = (text: string, max = 40) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export function summarize(op: Operation, lists: Lists, t: TFunction): string[] {
  const s = (key: string, options?: Record<string, unknown>) => t(`scenarios.canvas.summary.${key}`, options ?? {});
  const file = (id: number | null | undefined) => (id == null ? null : (lists.files.find((f) => f.id === id)?.name ?? `#${id}`));
  const list = (items: string[]) => (items.length === 0 ? s('none') : cut(items.join(', ')));
  const prompt = (id: number | null | undefined, text = '') => {
    const what = file(id) ?? (text ? s('text', { text: cut(text, 30) }) : null);
    return what === null ? null : s('prompt', { what });
  };
  const lines = (...items: (string | null | false | undefined)[]) => items.filter((item): item is string => typeof item === 'string' && item !== '');
  switch (op.kind) {
    case 'forward': {
      const names = op.targets.map((target) => {
        switch (targetKind(target)) {
          case 'employee': {
            const found = lists.employees.find((e) => e.id === target.employee_id);
            return found ? employeeName(found) : `#${target.employee_id ?? '?'}`;
          }
          case 'group':
            return lists.groups.find((g) => g.id === target.group_id)?.name ?? `#${target.group_id ?? '?'}`;
          default:
            return target.number ?? '';
        }
      });
      return lines(s('targets', { list: list(names) }), s('strategy', { strategy: t(`scenarios.strategies.${op.strategy}`) }));
    }
    case 'menu':
      return lines(prompt(op.prompt_file_id, op.prompt_text), s('timeout', { seconds: op.timeout }));
    case 'info':
      return lines(op.file_ids.length > 0 && s('files', { list: list(op.file_ids.map((id) => file(id) ?? '')) }), op.text && s('text', { text: cut(op.text) }));
    case 'voicemail':
      return lines(op.emails.length > 0 ? s('emails', { list: list(op.emails) }) : s('noEmail'), s('maxSeconds', { seconds: op.max_seconds }));
    case 'auth':
      return lines(prompt(op.prompt_file_id), s('code', { count: op.code.length }));
    case 'extension':
      return lines(prompt(op.prompt_file_id), op.from_menu && s('fromMenu'));
    case 'personal_manager':
      return lines(s('ring', { seconds: op.ring_timeout }));
    case 'insert':
      return lines(s('scenario', { name: lists.scenarios.find((sc) => sc.id === op.scenario_id)?.name ?? (op.scenario_id ? `#${op.scenario_id}` : s('none')) }));
    case 'interactive':
      return lines(op.url ? cut(`${op.method} ${op.url}`) : s('none'));
    case 'visit':
      return lines(s('interval', { hours: op.interval_hours }));
    case 'region':
      return lines(s('regions', { list: list(op.branches.map((b) => b.region)) }));
    case 'segment':
      return lines(s('segments', { list: list(op.branches.map((b) => lists.segments.find((sg) => sg.id === b.segment_id)?.name ?? `#${b.segment_id}`)) }));
  }
}
