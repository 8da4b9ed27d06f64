/** Operations and exits in words, for the selects and the exits' labels. */
import { useTranslation } from 'react-i18next';
import type { Operation } from './model';

/** The exit's name in words: «Клавиша 1», «Время ожидания истекло», «Никто не ответил»… */
export function useExitLabel() {
  const { t } = useTranslation();
  return (exit: string) => (/^[0-9*#]$/.test(exit) ? t('scenarios.exitNames.key', { key: exit }) : t(`scenarios.exitNames.${exit}`));
}

/** The label of an operation in the selects: key, title and kind. */
export function useOperationLabel() {
  const { t } = useTranslation();
  return (op: Operation) => `${op.key}${op.title ? ` «${op.title}»` : ''} — ${t(`scenarios.kinds.${op.kind}`)}`;
}

