// i18next set-up: English and Japanese message files, the language kept in localStorage, <html lang> kept in sync.
import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';
import { en } from './en';
import { ja } from './ja';

export const LANGUAGES = ['en', 'ja'] as const;
export type Language = (typeof LANGUAGES)[number];
export const STORAGE_KEY = 'ichigen.lang';

function storage(): Storage | null {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : null;
  } catch {
    return null;
  }
}

export function initialLanguage(): Language {
  const saved = storage()?.getItem(STORAGE_KEY);
  if (saved === 'en' || saved === 'ja') return saved;
  const nav = typeof navigator !== 'undefined' ? navigator.language : 'en';
  return nav.toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

function applyLang(lng: string) {
  if (typeof document !== 'undefined') document.documentElement.lang = lng;
}

export async function setLanguage(lng: Language): Promise<void> {
  storage()?.setItem(STORAGE_KEY, lng);
  await i18n.changeLanguage(lng);
}

i18n.on('languageChanged', applyLang);

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, ja: { translation: ja } },
  lng: initialLanguage(),
  fallbackLng: 'en',
  interpolation: { escapeValue: false },
  returnNull: false,
  initAsync: false,
});
applyLang(i18n.language);

export default i18n;
