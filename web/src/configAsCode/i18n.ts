import type { Widen } from '../entities/i18n';

export const ru = {
  configYaml: {
    title: 'Настройки аккаунта в YAML',
    intro:
      'Вся конфигурация аккаунта одним файлом: скачайте, измените, загрузите. Перед применением АТС покажет, что изменится, и ничего не запишет, пока вы не подтвердите.',
    download: 'Скачать YAML',
    downloaded: 'Файл сохранён',
    secretsMasked: 'Секреты (пароли) в файле скрыты; скрытое значение при загрузке сохраняет прежний секрет.',
    upload: 'Выбрать файл',
    editor: 'Текст YAML',
    replaceMissing: 'Очистить разделы, которых нет в файле',
    replaceMissingHelp: 'Без этой отметки разделы, которых в файле нет, остаются как есть',
    check: 'Показать изменения',
    apply: 'Применить',
    applied: 'Настройки применены. Прежняя версия сохранена (№ {{version}}) — её можно вернуть.',
    diff: 'Что изменится',
    noChanges: 'Изменений нет',
    section: 'Раздел',
    created: 'Новые',
    changed: 'Изменённые',
    deleted: 'Удаляемые',
    kept: 'Не затронут (нет в файле)',
    account: 'Настройки аккаунта изменятся',
    changedSince: 'Текст изменился после проверки — проверьте снова',
    empty: 'Вставьте или загрузите YAML',
  },
};

export const en: Widen<typeof ru> = {
  configYaml: {
    title: 'Account configuration as YAML',
    intro:
      "The account's whole configuration as one file: download, edit, upload. Before applying, the PBX shows what will change and writes nothing until you confirm.",
    download: 'Download YAML',
    downloaded: 'File saved',
    secretsMasked: 'Secrets (passwords) are masked in the file; a masked value keeps the stored secret on upload.',
    upload: 'Choose file',
    editor: 'YAML text',
    replaceMissing: 'Empty the sections the file omits',
    replaceMissingHelp: 'Without it, sections missing from the file are left as they are',
    check: 'Show changes',
    apply: 'Apply',
    applied: 'Configuration applied. The previous version is stored (#{{version}}) and can be restored.',
    diff: 'What will change',
    noChanges: 'No changes',
    section: 'Section',
    created: 'New',
    changed: 'Changed',
    deleted: 'Deleted',
    kept: 'Untouched (not in the file)',
    account: 'The account settings will change',
    changedSince: 'The text changed after the check: check again',
    empty: 'Paste or upload YAML',
  },
};
