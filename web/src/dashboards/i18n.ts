// Strings of the dashboards (CDR-3), merged into the resources by i18n/index.ts. Russian first;
// the statuses are named as in the calls report.
import type { Widen } from '../reports/i18n';

export const ru = {
  dashboards: {
    title: 'Аналитика',
    myTitle: 'Моя аналитика',
    presets: { today: 'Сегодня', week: '7 дней', month: '30 дней', custom: 'Свой период' },
    period: 'Период',
    tab: 'Звонки',
    timezone: 'Время — по часовому поясу аккаунта ({{zone}})',
    empty: 'Нет звонков за период',
    totals: {
      total: 'Всего звонков',
      answered: 'Отвеченные',
      missed: 'Пропущенные',
      lost: 'Потерянные',
      voicemail: 'Голосовая почта',
      blocked: 'Заблокированные',
      waitAvg: 'Среднее ожидание',
      waitP90: 'Ожидание 90 % звонков',
    },
    hints: {
      missed: 'Никто не ответил, сообщение не оставлено (статус «Пропущенный» в отчёте «Звонки»)',
      lost: 'Звонок потерян АТС: ошибка обработки или перезапуск во время звонка (статусы «Ошибка» и «Прерван»)',
      wait: 'От начала звонка до ответа сотрудника, а без ответа — до конца звонка; по отвеченным и пропущенным',
      waitP90: '90 % звонивших ждали не дольше',
    },
    calls: {
      hour: 'Звонки по часам',
      day: 'Звонки по дням',
      other: 'Прочие (голосовая почта, заблокированные, идущие)',
      summary:
        '{{title}}: всего {{total}}, отвеченных {{answered}}, пропущенных {{missed}}, потерянных {{lost}}, прочих {{other}}',
    },
    wait: {
      hour: 'Ожидание по часам, секунды',
      day: 'Ожидание по дням, секунды',
      avg: 'Среднее',
      p90: '90 % звонков',
      summary: '{{title}}: в среднем {{avg}}, у 90 % звонков не дольше {{p90}}',
    },
    bucket: { hour: 'Час', day: 'День' },
    employees: {
      title: 'Сотрудники',
      employee: 'Сотрудник',
      calls: 'Звонков',
      answered: 'Отвеченных',
      talk: 'Время разговоров',
      rating: 'Средняя оценка',
      ratings: 'Оценок',
      deleted: 'Удалённый сотрудник № {{id}}',
    },
    seconds: '{{value}} с',
    none: '—',
  },
};

export const en: Widen<typeof ru> = {
  dashboards: {
    title: 'Dashboards',
    myTitle: 'My dashboard',
    presets: { today: 'Today', week: '7 days', month: '30 days', custom: 'Custom period' },
    period: 'Period',
    tab: 'Calls',
    timezone: "Times are in the account's time zone ({{zone}})",
    empty: 'No calls in this period',
    totals: {
      total: 'All calls',
      answered: 'Answered',
      missed: 'Missed',
      lost: 'Lost',
      voicemail: 'Voicemail',
      blocked: 'Blocked',
      waitAvg: 'Average wait',
      waitP90: 'Wait of 90 % of calls',
    },
    hints: {
      missed: 'Nobody answered and no message was left (status “Missed” in the calls report)',
      lost: 'Lost by the PBX: a processing failure or a restart during the call (statuses “Failed” and “Interrupted”)',
      wait: 'From the start of the call to the answer, or to its end when nobody answered; answered and missed calls',
      waitP90: '90 % of callers waited no longer than this',
    },
    calls: {
      hour: 'Calls by hour',
      day: 'Calls by day',
      other: 'Other (voicemail, blocked, in progress)',
      summary: '{{title}}: {{total}} in all, {{answered}} answered, {{missed}} missed, {{lost}} lost, {{other}} other',
    },
    wait: {
      hour: 'Wait by hour, seconds',
      day: 'Wait by day, seconds',
      avg: 'Average',
      p90: '90 % of calls',
      summary: '{{title}}: {{avg}} on average, 90 % of calls no longer than {{p90}}',
    },
    bucket: { hour: 'Hour', day: 'Day' },
    employees: {
      title: 'Employees',
      employee: 'Employee',
      calls: 'Calls',
      answered: 'Answered',
      talk: 'Talk time',
      rating: 'Average rating',
      ratings: 'Ratings',
      deleted: 'Deleted employee No. {{id}}',
    },
    seconds: '{{value}} s',
    none: '—',
  },
};
