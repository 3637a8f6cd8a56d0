package pager

import (
	"errors"
	"fmt"

	"github.com/twilio/twilio-go/client"
)

// credentialRefused reports whether err is our account SID or auth token
// being refused: by Twilio (HTTP 401, error 20003 "Authenticate"), or by
// twilio-go itself before any request is sent (21222 and 21224: the SID
// or the token has characters other than letters and digits — a stray
// space or dash). twilio-go returns the local refusal as a
// *client.TwilioRestError with Status 400 and no HTTP exchange, which a
// 4xx rule reads as "this number only"; it is the opposite: no page to
// anyone will go out until the config is fixed.
func credentialRefused(err error) bool {
	var ve vendorError
	if errors.As(err, &ve) {
		return ve.refused()
	}
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		return te.Status == 401 || te.Code == 20003 || te.Code == 21222 || te.Code == 21224
	}
	var v1 *client.RestErrorV1
	if errors.As(err, &v1) {
		return v1.HttpStatusCode == 401 || v1.Code == 20003
	}
	return false
}

// explainRefusal says what a credential refusal means and where to fix it.
func explainRefusal(err error) string {
	var ve vendorError
	if errors.As(err, &ve) {
		return ve.Error()
	}
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		switch te.Code {
		case 21222:
			return "twilio-go refused to send (error 21222): the account SID has characters other than letters and digits; fix [twilio] account_sid"
		case 21224:
			return "twilio-go refused to send (error 21224): the auth token has characters other than letters and digits; fix auth_token_file or FOGHORN_TWILIO_AUTH_TOKEN"
		}
		return fmt.Sprintf("twilio %d: error %d: Twilio refuses the credentials; check [twilio] account_sid and the auth token (auth_token_file or FOGHORN_TWILIO_AUTH_TOKEN)", te.Status, te.Code)
	}
	return "Twilio refuses the credentials (" + explain(err) + "); check [twilio] account_sid and the auth token (auth_token_file or FOGHORN_TWILIO_AUTH_TOKEN)"
}
