import i18n from '../i18n';
import { ApiError, describeFieldError, fieldPath, isRetryable, NetworkError } from './errors';

const t = i18n.getFixedT('ru');
const tEn = i18n.getFixedT('en');

describe('describeFieldError', () => {
  it('translates a known error id into the user language', () => {
    const error = { field: 'extension', rule: 'extension 101 is already used by an employee', error_id: 'extension_taken' };

    expect(describeFieldError(error, t, 'ru')).toBe('Этот добавочный номер уже занят другим сотрудником или группой');
    expect(describeFieldError(error, tEn, 'en')).toBe('This extension is already used by another employee or group');
  });

  it('takes the half of a bilingual rule that matches the language', () => {
    const error = { field: 'extension', rule: 'extension must have at most 5 digits / не более 5 цифр', error_id: 'value_error' };

    expect(describeFieldError(error, t, 'ru')).toBe('не более 5 цифр');
    expect(describeFieldError(error, tEn, 'en')).toBe('extension must have at most 5 digits');
  });

  it('shows an unknown rule as the API wrote it', () => {
    const error = { field: 'x', rule: 'something new', error_id: 'brand_new_rule' };

    expect(describeFieldError(error, t, 'ru')).toBe('something new');
  });
});

describe('errors', () => {
  it('names form fields by the path the API gives', () => {
    expect(fieldPath('phones.0.number')).toEqual(['phones', 0, 'number']);
  });

  it('retries only what may pass by itself', () => {
    expect(isRetryable(new NetworkError('down'))).toBe(true);
    expect(isRetryable(new ApiError(503, { error_id: 'database_busy', message: '' }, '1'))).toBe(true);
    expect(isRetryable(new ApiError(422, { error_id: 'validation_failed', message: '' }))).toBe(false);
    expect(isRetryable(new ApiError(403, null))).toBe(false);
  });
});
