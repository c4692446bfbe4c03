/**
 * What API Gateway answers by itself, before the API function runs, in the API's own (nova's) shape:
 * a body over API Gateway's 10 MB payload limit never reaches the function, so the gateway's
 * REQUEST_TOO_LARGE response is to be nova's `overLimit` fault, with the compute microversion headers. The
 * local API server answers it; the CDK stack is to set it as the API's gateway response (not yet: cdk/).
 */
export const REQUEST_TOO_LARGE = {
  status: 413,
  /** nova's fault body (functions/api/http.ts faultResponse for 413). */
  body: {
    overLimit: {
      code: 413,
      message: "Request is too large: the limit is 10 MB (API Gateway's payload limit).",
    },
  },
  /** Headers the gateway sets on it (the version is the minimum: the request's was never negotiated). */
  headers: {
    "content-type": "application/json",
    "openstack-api-version": "compute 2.1",
    "x-openstack-nova-api-version": "2.1",
    vary: "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
  },
} as const;
