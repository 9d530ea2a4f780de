//! What a management API answer means for the post: one mapping of status and AWS error code
//! to [`PushError`], for the lean poster's answers and the SDK client's errors alike.

use http::StatusCode;

use super::transport::Answer;
use super::PushError;

/// The error for a failed call: `status` when an answer came (none: the request never got
/// one), `code` API Gateway's error type (`GoneException`, ...; may be empty), `message` what
/// to report. As the SDK's retry classifies: 410 final, 429 and 5xx retryable, other 4xx not.
pub(super) fn error_for(status: Option<u16>, code: &str, message: String) -> PushError {
    match status {
        Some(410) => PushError::Gone,
        _ if code == "GoneException" => PushError::Gone,
        Some(429) => PushError::Throttled(message),
        _ if code == "LimitExceededException" => PushError::Throttled(message),
        Some(s) if (400..500).contains(&s) => PushError::Rejected { status: s, message },
        _ => PushError::Unavailable(message),
    }
}

/// A PostToConnection answer: success, or the error for its status, `x-amzn-ErrorType` and
/// body.
pub(super) fn answer(a: &Answer) -> Result<(), PushError> {
    if a.status.is_success() {
        return Ok(());
    }
    // `x-amzn-ErrorType` may carry a `:`-separated suffix after the code.
    let code = a
        .error_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v))
        .unwrap_or("");
    let message = error_message(a.status, code, &a.body);
    Err(error_for(Some(a.status.as_u16()), code, message))
}

fn error_message(status: StatusCode, code: &str, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_default();
    let code = if code.is_empty() { "error" } else { code };
    if detail.is_empty() {
        format!("{code} (HTTP {})", status.as_u16())
    } else {
        format!("{code} (HTTP {}): {detail}", status.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::HeaderValue;

    use super::*;

    fn reply(status: u16, kind: Option<&str>, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            error_type: kind.map(|k| HeaderValue::from_str(k).unwrap()),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn answers_map_like_the_sdk_errors() {
        assert_eq!(answer(&reply(200, None, "")), Ok(()));
        assert_eq!(answer(&reply(410, None, "")), Err(PushError::Gone));
        assert_eq!(
            answer(&reply(400, Some("GoneException:http://internal/"), "")),
            Err(PushError::Gone)
        );
        assert!(matches!(
            answer(&reply(429, Some("LimitExceededException"), r#"{"message":"slow down"}"#)),
            Err(PushError::Throttled(m)) if m == "LimitExceededException (HTTP 429): slow down"
        ));
        assert!(matches!(
            answer(&reply(403, Some("ForbiddenException"), r#"{"Message":"no"}"#)),
            Err(PushError::Rejected { status: 403, .. })
        ));
        assert!(matches!(
            answer(&reply(503, None, "<html>")),
            Err(PushError::Unavailable(_))
        ));
    }

    #[test]
    fn without_an_answer_only_the_code_tells() {
        let m = || "m".to_owned();
        assert_eq!(error_for(None, "GoneException", m()), PushError::Gone);
        assert_eq!(
            error_for(None, "LimitExceededException", m()),
            PushError::Throttled(m())
        );
        assert_eq!(error_for(None, "", m()), PushError::Unavailable(m()));
        assert_eq!(error_for(Some(500), "", m()), PushError::Unavailable(m()));
        assert_eq!(
            error_for(Some(404), "NotFoundException", m()),
            PushError::Rejected {
                status: 404,
                message: m()
            }
        );
    }
}
