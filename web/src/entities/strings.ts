/** The strings of the configuration screens, merged into the i18next resources (i18n/index.ts). */
import * as configAsCode from '../configAsCode/i18n';
import * as groups from '../groups/i18n';
import * as numbers from '../numbers/i18n';
import * as scenarios from '../scenarios/i18n';
import * as schedules from '../schedules/i18n';
import * as entity from './i18n';

const FEATURES = [entity, groups, numbers, schedules, scenarios, configAsCode];

export const configStrings = {
  ru: Object.assign({}, ...FEATURES.map((feature) => feature.ru)) as Record<string, unknown>,
  en: Object.assign({}, ...FEATURES.map((feature) => feature.en)) as Record<string, unknown>,
};
