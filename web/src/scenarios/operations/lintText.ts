import { useTranslation } from 'react-i18next';
import type { Schemas } from '../../api/client';

export type Lint = Schemas['LintOut'];

/**
 * The API words its warnings in Russian; in English the warning's code is translated (the
 * Russian text stays for a code the cabinet does not know).
 */
export function useLintText() {
  const { t, i18n } = useTranslation();
  return (warning: Lint) =>
    i18n.language === 'ru' ? warning.message : t(`scenarios.lintCodes.${warning.code}`, { defaultValue: warning.message });
}

/** Whether a warning is about this scenario's operation `key` (not one of an inserted scenario). */
export function concerns(warning: Lint, key: string, scenarioId: number | null): boolean {
  return warning.operation === key && (warning.scenario_id === null || warning.scenario_id === scenarioId);
}

