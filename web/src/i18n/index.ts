import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';
import { configStrings } from '../entities/strings';
import { en } from './en';
import { ru } from './ru';
import * as dashboardStrings from '../dashboards/i18n';
import * as fileStrings from '../files/i18n';
import * as liveStrings from '../live/i18n';
import * as reportStrings from '../reports/i18n';
import * as resourceStrings from '../resources/i18n';
import * as setupStrings from '../setup/i18n';

export type Language = 'ru' | 'en';
export const LANGUAGES: readonly Language[] = ['ru', 'en'];
const STORAGE_KEY = 'vpbx.language';

/** The remembered choice; Russian unless the user picked English. */
export function storedLanguage(): Language {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'en' ? 'en' : 'ru';
  } catch {
    return 'ru';
  }
}

export function rememberLanguage(language: Language): void {
  try {
    localStorage.setItem(STORAGE_KEY, language);
  } catch {
    // private mode: the choice lasts this page only
  }
}

export async function setLanguage(language: Language): Promise<void> {
  rememberLanguage(language);
  document.documentElement.lang = language;
  await i18n.changeLanguage(language);
}

document.documentElement.lang = storedLanguage();

void i18n.use(initReactI18next).init({
  resources: {
    ru: { translation: { ...ru, ...configStrings.ru } },
    en: { translation: { ...en, ...configStrings.en } },
  },
  lng: storedLanguage(),
  fallbackLng: 'ru',
  interpolation: { escapeValue: false },
  returnNull: false,
});

// The calls report's and the file base's own strings (reports/i18n.ts, files/i18n.ts).
for (const language of LANGUAGES) {
  i18n.addResourceBundle(language, 'translation', { ...reportStrings[language], ...fileStrings[language] }, true);
  // the other screens' (resources/i18n.ts): deep, beside the shared menu.* keys
  i18n.addResourceBundle(language, 'translation', resourceStrings[language], true);
  i18n.addResourceBundle(language, 'translation', setupStrings[language], true);
  i18n.addResourceBundle(language, 'translation', dashboardStrings[language], true);
  i18n.addResourceBundle(language, 'translation', liveStrings[language], true);
}

export default i18n;
