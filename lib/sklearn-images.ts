/**
 * Where the SageMaker scikit-learn framework images live. The registry accounts per region are data from the
 * SageMaker Python SDK's `src/sagemaker/image_uri_config/sklearn.json` (the same accounts for every version it
 * lists, training and inference alike). Regions it does not list are left out: a stack deployed there fails
 * with Fn::FindInMap naming the region, unless `training.imageUri` is set.
 */
export const SKLEARN_REPOSITORY = 'sagemaker-scikit-learn';

/** Framework versions the SDK publishes an image for (`<version>-cpu-py3`). */
export const SKLEARN_VERSIONS = ['0.20.0', '0.23-1', '1.0-1', '1.2-1'] as const;

/** region -> ECR registry account of the SageMaker scikit-learn images. */
export const SKLEARN_REGISTRY_ACCOUNTS: Readonly<Record<string, string>> = {
  'af-south-1': '510948584623',
  'ap-east-1': '651117190479',
  'ap-northeast-1': '354813040037',
  'ap-northeast-2': '366743142698',
  'ap-northeast-3': '867004704886',
  'ap-south-1': '720646828776',
  'ap-south-2': '628508329040',
  'ap-southeast-1': '121021644041',
  'ap-southeast-2': '783357654285',
  'ap-southeast-3': '951798379941',
  'ap-southeast-4': '106583098589',
  'ca-central-1': '341280168497',
  'cn-north-1': '450853457545',
  'cn-northwest-1': '451049120500',
  'eu-central-1': '492215442770',
  'eu-central-2': '680994064768',
  'eu-north-1': '662702820516',
  'eu-west-1': '141502667606',
  'eu-west-2': '764974769150',
  'eu-west-3': '659782779980',
  'eu-south-1': '978288397137',
  'eu-south-2': '104374241257',
  'me-south-1': '801668240914',
  'me-central-1': '272398656194',
  'sa-east-1': '737474898029',
  'us-east-1': '683313688378',
  'us-east-2': '257758044811',
  'us-gov-west-1': '414596584902',
  'us-gov-east-1': '237065988967',
  'us-west-1': '746614075791',
  'us-west-2': '246618743249',
};

/** The image tag SageMaker's SKLearn estimator uses for a framework version. */
export function sklearnImageTag(frameworkVersion: string): string {
  return `${frameworkVersion}-cpu-py3`;
}
