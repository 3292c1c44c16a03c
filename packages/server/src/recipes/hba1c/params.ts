// Parameters of the HbA1c control-period labeler: the clinical definition's open points and the column mapping of a
// DWH extract, each with the default documented in docs/diabetes-study.md. The zod schema is the single source.
import { z } from 'zod';

const col = (def: string, what: string) => z.string().min(1).max(200).default(def).describe(what);

export const ORAL_CLASSES = [
  'biguanide',
  'dpp4_inhibitor',
  'sglt2_inhibitor',
  'sulfonylurea',
  'glinide',
  'alpha_glucosidase_inhibitor',
  'thiazolidinedione',
] as const;

export const hba1cParamsSchema = z
  .object({
    threshold: z
      .number()
      .min(4)
      .max(15)
      .default(7)
      .describe('HbA1c (% NGSP) below this is controlled; at or above it, uncontrolled'),
    minControlDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(365)
      .describe('a control period at least this long after the index date makes a responder'),
    lengthMode: z
      .enum(['first-to-last', 'until-next-uncontrolled'])
      .default('first-to-last')
      .describe(
        "how a period's length is measured: from its first to its last measurement, or from its first measurement to the next measurement of the other status (when that comes within maxGapDays)",
      ),
    maxGapDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(180)
      .describe('the largest gap between two measurements that still continues a period'),
    predictionWindowDays: z
      .number()
      .int()
      .min(1)
      .max(7300)
      .default(730)
      .describe('a qualifying control period must start within this many days after the index date'),
    minFollowUpDays: z
      .number()
      .int()
      .min(0)
      .max(7300)
      .default(365)
      .describe(
        'non-responders whose last HbA1c is fewer days than this after the index date are excluded (too short follow-up to tell)',
      ),
    includeIndexDay: z
      .boolean()
      .default(true)
      .describe(
        'features may use data dated on the index day (the index HbA1c itself, drugs active that day); false: strictly before',
      ),
    oralClasses: z
      .array(z.string().min(1).max(100))
      .min(1)
      .max(50)
      .default([...ORAL_CLASSES])
      .describe('prescription classes that count as oral hypoglycemic drugs (compared case-insensitively)'),
    hba1cCodes: z
      .array(z.string().min(1).max(100))
      .min(1)
      .default(['4548-4', '59261-8', '17856-6', 'HbA1c', 'HbA1c(NGSP)', 'HbA1c(IFCC)', 'HbA1c(JDS)'])
      .describe('lab test codes or names that are HbA1c (case-insensitive)'),
    egfrCodes: z
      .array(z.string().min(1).max(100))
      .default(['33914-3', '62238-1', '98979-8', 'eGFR'])
      .describe('lab test codes or names that are eGFR'),
    bmiCodes: z
      .array(z.string().min(1).max(100))
      .default(['39156-5', 'BMI'])
      .describe('lab test codes or names that are BMI'),
    hba1cMin: z.number().default(3).describe('HbA1c (% NGSP) below this is implausible: flagged and excluded'),
    hba1cMax: z.number().default(20).describe('HbA1c (% NGSP) above this is implausible: flagged and excluded'),
    defaultHba1cUnit: z
      .enum(['%', 'mmol/mol'])
      .nullable()
      .default(null)
      .describe('unit assumed for HbA1c rows with an empty unit; null: an empty unit is an error'),
    diagnosticHba1c: z
      .number()
      .default(6.5)
      .describe('an HbA1c at or above this counts as a diabetes record (years since first diabetes record)'),
    diabetesCodePrefixes: z
      .array(z.string().min(1).max(20))
      .default(['E11'])
      .describe('condition codes (prefix match) that are diabetes records'),
    unknownPatients: z
      .enum(['fail', 'exclude'])
      .default('fail')
      .describe('a patient in labs or prescriptions but not in the patient table: fail the run, or exclude and count'),
    labelColumn: z.string().min(1).max(100).default('responder').describe('name of the output label column (1/0)'),
    labs: z
      .object({
        patient: col('patient_id', 'labs: patient id column'),
        date: col('date', 'labs: measurement date column'),
        test: col('test_code', 'labs: test code or name column'),
        value: col('value', 'labs: numeric result column'),
        unit: col('unit', 'labs: unit column'),
      })
      .strict()
      .prefault({}),
    prescriptions: z
      .object({
        patient: col('patient_id', 'prescriptions: patient id column'),
        start: col('start_date', 'prescriptions: start date column'),
        end: col('end_date', 'prescriptions: end date column (empty = ongoing)'),
        drug: col('drug_code', 'prescriptions: drug code or name column (not needed for the label)'),
        drugClass: col('drug_class', 'prescriptions: drug class column'),
      })
      .strict()
      .prefault({}),
    patients: z
      .object({
        patient: col('patient_id', 'patients: patient id column'),
        birthDate: col('birth_date', 'patients: birth date column'),
        sex: col('sex', 'patients: sex column'),
      })
      .strict()
      .prefault({}),
    conditions: z
      .object({
        patient: col('patient_id', 'conditions: patient id column'),
        date: col('onset_date', 'conditions: onset or record date column'),
        code: col('code', 'conditions: ICD-10 code column'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Hba1cParams = z.infer<typeof hba1cParamsSchema>;
export type Hba1cParamsInput = z.input<typeof hba1cParamsSchema>;
