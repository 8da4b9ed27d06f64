// Strings of the live view (CDR-4), merged into the resources by i18n/index.ts. Russian first.
import type { Widen } from '../reports/i18n';

export const ru = {
  live: {
    title: 'Звонки сейчас',
    calls: 'Текущие звонки',
    employees: 'Сотрудники',
    noCalls: 'Сейчас звонков нет',
    lost: 'Соединение потеряно, переподключение…',
    connecting: 'Подключение…',
    columns: {
      caller: 'Кто звонит',
      number: 'Номер',
      step: 'Шаг сценария',
      talker: 'Разговаривает',
      duration: 'Длительность',
      queue: 'Место в очереди',
    },
    ringing: 'Звонит: {{names}}',
    states: {
      talking: 'Разговаривает',
      ringing: 'Звонит телефон',
      registered: 'Свободен (телефон зарегистрирован)',
      offline: 'Телефон не зарегистрирован',
    },
  },
};

export const en: Widen<typeof ru> = {
  live: {
    title: 'Live calls',
    calls: 'Current calls',
    employees: 'Employees',
    noCalls: 'No calls right now',
    lost: 'Connection lost, reconnecting…',
    connecting: 'Connecting…',
    columns: {
      caller: 'Caller',
      number: 'Number',
      step: 'Scenario step',
      talker: 'Talking',
      duration: 'Duration',
      queue: 'Queue place',
    },
    ringing: 'Ringing: {{names}}',
    states: {
      talking: 'Talking',
      ringing: 'Phone ringing',
      registered: 'Free (phone registered)',
      offline: 'Phone not registered',
    },
  },
};
