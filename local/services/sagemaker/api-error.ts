/**
 * An error answered to a client. `type` is the SDK's error name (`ValidationException`, `ResourceNotFound`,
 * `ResourceInUse`, ...): the JSON 1.1 protocol sends it as `__type`, and @aws-sdk/client-sagemaker maps
 * `ResourceNotFound`/`ResourceInUse` to its modeled classes and anything else to a SageMakerServiceException
 * with that name.
 */
export class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }
}

export const validation = (message: string): ApiError => new ApiError('ValidationException', message);
export const notFound = (message = 'Requested resource not found.'): ApiError => new ApiError('ResourceNotFound', message);
export const inUse = (message: string): ApiError => new ApiError('ResourceInUse', message);
