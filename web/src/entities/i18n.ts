// Strings shared by the configuration screens (groups, numbers, schedules, scenarios, YAML).
// Each feature keeps its own strings beside it; i18n/index.ts merges them into the resources.

/** The English half must have exactly the Russian keys (tsc checks it). */
export type Widen<T> = { [K in keyof T]: T[K] extends string ? string : Widen<T[K]> };

export const ru = {
  entity: {
    stale: 'Эту запись изменил кто-то другой, пока вы её редактировали',
    staleText:
      'Ваши правки не сохранены и остались в форме. Перезагрузите запись, чтобы увидеть чужие изменения, и внесите свои снова.',
    reload: 'Перезагрузить',
    overwrite: 'Сохранить поверх',
    delete: 'Удалить',
    deleteConfirm: 'Удалить «{{name}}»?',
    deleted: 'Удалено',
    inUse: 'Нельзя удалить: запись используется',
    usedBy: 'Где используется',
    none: 'Не указан',
    always: 'Не указан (всегда)',
    actions: 'Действия',
    name: 'Название',
    notFoundOrGone: 'Запись не найдена',
    dragHandle: 'Перетащить',
    dragInstructions:
      'Чтобы изменить порядок, нажмите пробел или Enter, двигайте стрелками вверх и вниз, ещё раз пробел или Enter — оставить здесь, Escape — отменить.',
    dragPicked: '{{name}} взят: место {{position}} из {{count}}',
    dragOver: '{{name}}: место {{position}} из {{count}}',
    dragDropped: '{{name}} теперь на месте {{position}} из {{count}}',
    dragCancelled: 'Порядок не изменён',
  },
};

export const en: Widen<typeof ru> = {
  entity: {
    stale: 'Someone else changed this record while you were editing it',
    staleText:
      'Your changes were not saved and are still in the form. Reload the record to see the other changes, then make yours again.',
    reload: 'Reload',
    overwrite: 'Overwrite theirs',
    delete: 'Delete',
    deleteConfirm: 'Delete “{{name}}”?',
    deleted: 'Deleted',
    inUse: 'Cannot delete: the record is in use',
    usedBy: 'Used by',
    none: 'Not set',
    always: 'Not set (always)',
    actions: 'Actions',
    name: 'Name',
    notFoundOrGone: 'Record not found',
    dragHandle: 'Drag',
    dragInstructions:
      'To reorder, press Space or Enter, move with the up and down arrows, press Space or Enter again to drop, Escape to cancel.',
    dragPicked: '{{name}} picked up: position {{position}} of {{count}}',
    dragOver: '{{name}}: position {{position}} of {{count}}',
    dragDropped: '{{name}} is now at position {{position}} of {{count}}',
    dragCancelled: 'The order did not change',
  },
};
