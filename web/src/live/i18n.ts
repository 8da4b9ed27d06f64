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
      talking: 'Разговор',
      ringing: 'Звонок',
      wrap_up: 'Поствызывная обработка',
      off_schedule: 'Вне графика',
      registered: 'Зарегистрирован',
      offline: 'Не в сети',
    },
    supervise: {
      column: 'Супервизор',
      modes: { listen: 'Слушать', whisper: 'Подсказывать', barge: 'Вмешаться' },
      ringing: 'Звоним на ваш телефон: ответьте, чтобы подключиться к разговору',
      in: {
        joining: '{{name}}: звоним на телефон',
        listen: '{{name}} слушает',
        whisper: '{{name}} подсказывает',
        barge: '{{name}} вмешался',
      },
      errors: {
        'live_call.not_found': 'Звонок уже закончился',
        'live_call.not_talking': 'В этом звонке сейчас никто не разговаривает с абонентом',
        'live_call.supervised': 'К этому разговору уже подключается другой супервизор',
        'live_call.own_call': 'Это ваш собственный разговор',
        'supervisor.no_employee': 'Ваш пользователь не связан с сотрудником: АТС не знает, какой телефон вызвать',
        'supervisor.no_phone': 'Ни один ваш телефон не зарегистрирован: АТС нечем вам позвонить',
        switch_unavailable: 'Нет связи с АТС, попробуйте ещё раз',
      },
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
      ringing: 'Ringing',
      wrap_up: 'Wrap-up',
      off_schedule: 'Off schedule',
      registered: 'Registered',
      offline: 'Offline',
    },
    supervise: {
      column: 'Supervisor',
      modes: { listen: 'Listen', whisper: 'Whisper', barge: 'Barge in' },
      ringing: 'Calling your phone: answer to join the conversation',
      in: {
        joining: '{{name}}: calling the phone',
        listen: '{{name}} listens',
        whisper: '{{name}} whispers',
        barge: '{{name}} barged in',
      },
      errors: {
        'live_call.not_found': 'The call has ended',
        'live_call.not_talking': 'Nobody is talking with the caller in this call now',
        'live_call.supervised': 'Another supervisor is joining this conversation',
        'live_call.own_call': 'This is your own call',
        'supervisor.no_employee': 'Your user is linked to no employee: the PBX has no phone of yours to ring',
        'supervisor.no_phone': 'None of your phones is registered: the PBX cannot ring you',
        switch_unavailable: 'The PBX is not reachable, try again',
      },
    },
  },
};
