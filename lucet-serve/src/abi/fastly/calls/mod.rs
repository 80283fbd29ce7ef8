//! The calls of the Compute ABI that do something here, by import name;
//! every other call of `signatures.rs` returns `unsupported`. Each call
//! reads its arguments (pointers and lengths into guest memory, handles)
//! through [`Args`] and [`Memory`], and returns a [`CallResult`] whose error
//! is the status the guest gets.

mod args;
mod backend;
mod body;
mod cache;
mod downstream;
mod erl;
mod headers;
mod http;
mod http_cache;
mod kv;
mod lookups;
mod next_request;
mod services;
mod wait;

use std::sync::OnceLock;

use args::Args;

use super::memory::Memory;
use super::signatures::SIGNATURES;
use super::state::FastlyState;
use super::status::{status_of, CallResult, Status};
use crate::engine::{GuestCx, HostCall};

type Call = fn(&mut FastlyState, &mut dyn GuestCx, &[u64]) -> i32;

macro_rules! implemented {
    (
        $( $module:literal $name:literal => $f:path, )*
        waiting:
        $( $wmodule:literal $wname:literal => $wf:path, )*
        taking whole bodies:
        $( $bmodule:literal $bname:literal => $bf:path, [$($barg:literal),*], )*
    ) => {
        /// `(module, name)` of every call that is implemented.
        #[cfg(test)]
        const IMPLEMENTED: &[(&str, &str)] = &[
            $(($module, $name),)* $(($wmodule, $wname),)* $(($bmodule, $bname),)*
        ];

        /// The host function of `module.name`, if implemented: its body,
        /// given its arguments and memory (or, for a call that may wait,
        /// the guest, which it may suspend), its result made a status.
        fn implementation(module: &str, name: &str) -> Option<Call> {
            match (module, name) {
                $( ($module, $name) => Some(|s, cx, a| {
                    let result: CallResult = $f(s, &mut Memory(cx.memory()), &Args(a));
                    status_of(result)
                }), )*
                $( ($wmodule, $wname) => Some(|s, cx, a| {
                    let result: CallResult = $wf(s, cx, &Args(a));
                    status_of(result)
                }), )*
                // These use the bodies their arguments name whole: they
                // wait first for any still arriving.
                $( ($bmodule, $bname) => Some(|s, cx, a| {
                    let args = Args(a);
                    let result: CallResult = [$(args.u32($barg)),*]
                        .into_iter()
                        .try_for_each(|h| wait::complete(s, cx, h))
                        .and_then(|()| $bf(s, &mut Memory(cx.memory()), &args));
                    status_of(result)
                }), )*
                _ => None,
            }
        }
    };
}

implemented! {
    "fastly_abi" "init" => services::abi_init,

    "fastly_http_req" "body_downstream_get" => http::body_downstream_get,
    "fastly_http_req" "new" => http::req_new,
    "fastly_http_req" "close" => http::req_close,
    "fastly_http_req" "header_names_get" => http::req_header_names_get,
    "fastly_http_req" "header_value_get" => http::req_header_value_get,
    "fastly_http_req" "header_values_get" => http::req_header_values_get,
    "fastly_http_req" "header_values_set" => http::req_header_values_set,
    "fastly_http_req" "header_insert" => http::req_header_insert,
    "fastly_http_req" "header_append" => http::req_header_append,
    "fastly_http_req" "header_remove" => http::req_header_remove,
    "fastly_http_req" "method_get" => http::req_method_get,
    "fastly_http_req" "method_set" => http::req_method_set,
    "fastly_http_req" "uri_get" => http::req_uri_get,
    "fastly_http_req" "uri_set" => http::req_uri_set,
    "fastly_http_req" "version_get" => http::req_version_get,
    "fastly_http_req" "version_set" => http::req_version_set,
    "fastly_http_req" "framing_headers_mode_set" => http::req_framing_headers_mode_set,
    "fastly_http_req" "auto_decompress_response_set" => http::req_auto_decompress_response_set,
    "fastly_http_req" "cache_override_set" => http::req_cache_override_set,
    "fastly_http_req" "cache_override_v2_set" => http::req_cache_override_set,
    "fastly_http_req" "cache_override_v3_set" => http::req_cache_override_set,
    "fastly_http_req" "downstream_client_ip_addr" => downstream::client_ip_addr,
    "fastly_http_req" "downstream_server_ip_addr" => downstream::server_ip_addr,
    "fastly_http_req" "downstream_client_request_id" => downstream::client_request_id,
    "fastly_http_req" "original_header_names_get" => downstream::original_header_names,
    "fastly_http_req" "original_header_count" => downstream::original_header_count,
    "fastly_http_req" "downstream_client_ddos_detected" => downstream::no_flag,
    "fastly_http_req" "fastly_key_is_valid" => downstream::no_flag,
    "fastly_http_req" "downstream_client_h2_fingerprint" => downstream::absent,
    "fastly_http_req" "downstream_client_oh_fingerprint" => downstream::absent,
    "fastly_http_req" "downstream_tls_cipher_openssl_name" => downstream::absent,
    "fastly_http_req" "downstream_tls_protocol" => downstream::absent,
    "fastly_http_req" "downstream_tls_client_hello" => downstream::absent,
    "fastly_http_req" "downstream_tls_raw_client_certificate" => downstream::absent,
    "fastly_http_req" "downstream_tls_client_cert_verify_result" => downstream::absent,
    "fastly_http_req" "downstream_tls_ja3_md5" => downstream::absent,
    "fastly_http_req" "downstream_tls_ja4" => downstream::absent,
    "fastly_http_req" "downstream_compliance_region" => downstream::absent,

    "fastly_http_downstream" "downstream_client_ip_addr" => downstream::req_client_ip_addr,
    "fastly_http_downstream" "downstream_server_ip_addr" => downstream::req_server_ip_addr,
    "fastly_http_downstream" "downstream_client_request_id" => downstream::req_client_request_id,
    "fastly_http_downstream" "downstream_original_header_names" => downstream::req_original_header_names,
    "fastly_http_downstream" "downstream_original_header_count" => downstream::req_original_header_count,
    "fastly_http_downstream" "downstream_client_ddos_detected" => downstream::req_no_flag,
    "fastly_http_downstream" "fastly_key_is_valid" => downstream::req_no_flag,
    "fastly_http_downstream" "downstream_bot_analyzed" => downstream::req_no_flag,
    "fastly_http_downstream" "downstream_bot_detected" => downstream::req_no_flag,
    "fastly_http_downstream" "downstream_bot_verified" => downstream::req_no_flag,
    "fastly_http_downstream" "downstream_bot_name" => downstream::req_absent,
    "fastly_http_downstream" "downstream_bot_category" => downstream::req_absent,
    "fastly_http_downstream" "downstream_bot_category_kind" => downstream::req_absent,
    "fastly_http_downstream" "downstream_client_h2_fingerprint" => downstream::req_absent,
    "fastly_http_downstream" "downstream_client_oh_fingerprint" => downstream::req_absent,
    "fastly_http_downstream" "downstream_tls_cipher_openssl_name" => downstream::req_absent,
    "fastly_http_downstream" "downstream_tls_protocol" => downstream::req_absent,
    "fastly_http_downstream" "downstream_tls_client_hello" => downstream::req_absent,
    "fastly_http_downstream" "downstream_tls_raw_client_certificate" => downstream::req_absent,
    "fastly_http_downstream" "downstream_tls_client_cert_verify_result" => downstream::req_absent,
    "fastly_http_downstream" "downstream_tls_client_servername" => downstream::req_absent,
    "fastly_http_downstream" "downstream_tls_ja3_md5" => downstream::req_absent,
    "fastly_http_downstream" "downstream_tls_ja4" => downstream::req_absent,
    "fastly_http_downstream" "downstream_compliance_region" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_anonymous" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_anonymous_vpn" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_hosting_provider" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_proxy_over_vpn" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_public_proxy" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_relay_proxy" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_residential_proxy" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_smart_dns_proxy" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_tor_exit_node" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_is_vpn_datacenter" => downstream::req_absent,
    "fastly_http_downstream" "downstream_resvpnproxy_vpn_service_name" => downstream::req_absent,
    "fastly_http_downstream" "downstream_visits_this_service" => downstream::absent,
    "fastly_http_downstream" "downstream_visits_this_pop" => downstream::absent,

    "fastly_http_resp" "new" => http::resp_new,
    "fastly_http_resp" "close" => http::resp_close,
    "fastly_http_resp" "header_names_get" => http::resp_header_names_get,
    "fastly_http_resp" "header_value_get" => http::resp_header_value_get,
    "fastly_http_resp" "header_values_get" => http::resp_header_values_get,
    "fastly_http_resp" "header_values_set" => http::resp_header_values_set,
    "fastly_http_resp" "header_insert" => http::resp_header_insert,
    "fastly_http_resp" "header_append" => http::resp_header_append,
    "fastly_http_resp" "header_remove" => http::resp_header_remove,
    "fastly_http_resp" "version_get" => http::resp_version_get,
    "fastly_http_resp" "version_set" => http::resp_version_set,
    "fastly_http_resp" "status_get" => http::resp_status_get,
    "fastly_http_resp" "status_set" => http::resp_status_set,
    "fastly_http_resp" "framing_headers_mode_set" => http::resp_framing_headers_mode_set,
    "fastly_http_resp" "http_keepalive_mode_set" => http::resp_http_keepalive_mode_set,
    "fastly_http_resp" "get_addr_dest_ip" => http::resp_dest_ip,
    "fastly_http_resp" "get_addr_dest_port" => http::resp_dest_port,

    "fastly_http_body" "new" => body::new,
    "fastly_http_body" "abandon" => body::abandon,
    "fastly_http_body" "known_length" => body::known_length,
    "fastly_http_body" "trailer_append" => body::trailer_append,
    "fastly_http_body" "trailer_names_get" => body::trailer_names_get,
    "fastly_http_body" "trailer_value_get" => body::trailer_value_get,
    "fastly_http_body" "trailer_values_get" => body::trailer_values_get,

    "fastly_async_io" "is_ready" => body::is_ready,

    "fastly_log" "endpoint_get" => services::log_endpoint_get,
    "fastly_log" "write" => services::log_write,

    "fastly_config_store" "open" => services::store_open,
    "fastly_config_store" "get" => services::store_get,
    "fastly_dictionary" "open" => services::store_open,
    "fastly_dictionary" "get" => services::store_get,

    "fastly_compute_runtime" "get_vcpu_ms" => services::vcpu_ms,
    "fastly_compute_runtime" "get_heap_mib" => services::heap_mib,
    "fastly_compute_runtime" "has_domain_inspector" => services::no_service,
    "fastly_compute_runtime" "has_image_optimizer" => services::no_service,
    "fastly_compute_runtime" "has_origin_inspector" => services::no_service,

    "fastly_http_req" "pending_req_poll" => backend::pending_req_poll,
    "fastly_http_req" "pending_req_poll_v2" => backend::pending_req_poll_v2,
    "fastly_backend" "exists" => backend::exists,
    "fastly_backend" "is_healthy" => backend::is_healthy,
    "fastly_backend" "is_dynamic" => backend::is_dynamic,
    "fastly_http_req" "register_dynamic_backend" => backend::register_dynamic_backend,
    "fastly_backend" "get_host" => backend::get_host,
    "fastly_backend" "get_override_host" => backend::get_override_host,
    "fastly_backend" "get_port" => backend::get_port,
    "fastly_backend" "get_connect_timeout_ms" => backend::get_connect_timeout_ms,
    "fastly_backend" "get_first_byte_timeout_ms" => backend::get_first_byte_timeout_ms,
    "fastly_backend" "get_between_bytes_timeout_ms" => backend::get_between_bytes_timeout_ms,
    "fastly_backend" "is_ssl" => backend::is_ssl,
    "fastly_backend" "get_ssl_min_version" => backend::get_ssl_min_version,
    "fastly_backend" "get_ssl_max_version" => backend::get_ssl_max_version,
    "fastly_geo" "lookup" => lookups::geo_lookup,
    "fastly_device_detection" "lookup" => lookups::device_lookup,
    "fastly_acl" "open" => lookups::acl_open,
    "fastly_acl" "lookup" => lookups::acl_lookup,
    "fastly_secret_store" "open" => lookups::secret_store_open,
    "fastly_secret_store" "get" => lookups::secret_get,
    "fastly_secret_store" "plaintext" => lookups::secret_plaintext,
    "fastly_secret_store" "from_bytes" => lookups::secret_from_bytes,
    "fastly_erl" "check_rate" => erl::check_rate,
    "fastly_erl" "ratecounter_increment" => erl::increment,
    "fastly_erl" "ratecounter_lookup_rate" => erl::lookup_rate,
    "fastly_erl" "ratecounter_lookup_count" => erl::lookup_count,
    "fastly_erl" "penaltybox_add" => erl::penaltybox_add,
    "fastly_erl" "penaltybox_has" => erl::penaltybox_has,
    "fastly_kv_store" "open" => kv::open,
    "fastly_kv_store" "lookup" => kv::lookup,
    "fastly_kv_store" "lookup_wait" => kv::lookup_wait,
    "fastly_kv_store" "lookup_wait_v2" => kv::lookup_wait_v2,
    "fastly_kv_store" "insert_wait" => kv::done_wait,
    "fastly_kv_store" "delete" => kv::delete,
    "fastly_kv_store" "delete_wait" => kv::done_wait,
    "fastly_kv_store" "list" => kv::list,
    "fastly_kv_store" "list_wait" => kv::list_wait,
    "fastly_cache" "lookup" => cache::lookup,
    "fastly_cache" "insert" => cache::insert,
    "fastly_cache" "transaction_insert" => cache::transaction_insert,
    "fastly_cache" "transaction_insert_and_stream_back" => cache::transaction_insert_and_stream_back,
    "fastly_cache" "transaction_update" => cache::transaction_update,
    "fastly_cache" "transaction_cancel" => cache::transaction_cancel,
    "fastly_cache" "close_busy" => cache::close_busy,
    "fastly_cache" "close" => cache::close,
    "fastly_cache" "get_state" => cache::get_state,
    "fastly_cache" "get_user_metadata" => cache::get_user_metadata,
    "fastly_cache" "get_body" => cache::get_body,
    "fastly_cache" "get_length" => cache::get_length,
    "fastly_cache" "get_max_age_ns" => cache::get_max_age_ns,
    "fastly_cache" "get_stale_while_revalidate_ns" => cache::get_stale_while_revalidate_ns,
    "fastly_cache" "get_age_ns" => cache::get_age_ns,
    "fastly_cache" "get_hits" => cache::get_hits,
    "fastly_cache" "replace" => cache::replace,
    "fastly_cache" "replace_insert" => cache::replace_insert,
    "fastly_cache" "replace_get_state" => cache::get_state,
    "fastly_cache" "replace_get_user_metadata" => cache::get_user_metadata,
    "fastly_cache" "replace_get_body" => cache::get_body,
    "fastly_cache" "replace_get_length" => cache::get_length,
    "fastly_cache" "replace_get_max_age_ns" => cache::get_max_age_ns,
    "fastly_cache" "replace_get_stale_while_revalidate_ns" => cache::get_stale_while_revalidate_ns,
    "fastly_cache" "replace_get_age_ns" => cache::get_age_ns,
    "fastly_cache" "replace_get_hits" => cache::get_hits,
    "fastly_purge" "purge_surrogate_key" => cache::purge_surrogate_key,
    "fastly_http_cache" "is_request_cacheable" => http_cache::is_request_cacheable,
    "fastly_http_cache" "get_suggested_cache_key" => http_cache::get_suggested_cache_key,
    "fastly_http_cache" "lookup" => http_cache::lookup,
    "fastly_http_cache" "transaction_lookup" => http_cache::transaction_lookup,
    "fastly_http_cache" "transaction_insert" => http_cache::transaction_insert,
    "fastly_http_cache" "transaction_insert_and_stream_back" => http_cache::transaction_insert_and_stream_back,
    "fastly_http_cache" "transaction_update" => http_cache::transaction_update,
    "fastly_http_cache" "transaction_update_and_return_fresh" => http_cache::transaction_update_and_return_fresh,
    "fastly_http_cache" "transaction_choose_stale" => http_cache::transaction_choose_stale,
    "fastly_http_cache" "transaction_record_not_cacheable" => http_cache::transaction_record_not_cacheable,
    "fastly_http_cache" "transaction_abandon" => http_cache::transaction_abandon,
    "fastly_http_cache" "close" => http_cache::close,
    "fastly_http_cache" "get_suggested_backend_request" => http_cache::get_suggested_backend_request,
    "fastly_http_cache" "get_suggested_cache_options" => http_cache::get_suggested_cache_options,
    "fastly_http_cache" "prepare_response_for_storage" => http_cache::prepare_response_for_storage,
    "fastly_http_cache" "get_found_response" => http_cache::get_found_response,
    "fastly_http_cache" "get_length" => http_cache::get_length,
    "fastly_http_cache" "get_max_age_ns" => http_cache::get_max_age_ns,
    "fastly_http_cache" "get_stale_while_revalidate_ns" => http_cache::get_stale_while_revalidate_ns,
    "fastly_http_cache" "get_stale_if_error_ns" => http_cache::get_stale_if_error_ns,
    "fastly_http_cache" "get_age_ns" => http_cache::get_age_ns,
    "fastly_http_cache" "get_hits" => http_cache::get_hits,
    "fastly_http_cache" "get_sensitive_data" => http_cache::get_sensitive_data,
    "fastly_http_cache" "get_surrogate_keys" => http_cache::get_surrogate_keys,
    "fastly_http_cache" "get_vary_rule" => http_cache::get_vary_rule,
    "fastly_http_downstream" "next_request" => next_request::next_request,
    "fastly_http_downstream" "next_request_abandon" => next_request::next_request_abandon,

    waiting:
    "fastly_http_body" "read" => wait::body_read,
    "fastly_http_body" "write" => wait::body_write,
    "fastly_http_body" "append" => wait::body_append,
    "fastly_http_body" "close" => wait::body_close,
    "fastly_async_io" "select" => wait::select,
    "fastly_http_req" "send" => wait::send,
    "fastly_http_req" "send_v2" => wait::send_v2,
    "fastly_http_req" "send_v3" => wait::send_v2,
    "fastly_http_req" "pending_req_wait" => wait::pending_req_wait,
    "fastly_http_req" "pending_req_wait_v2" => wait::pending_req_wait_v2,
    "fastly_http_req" "pending_req_select" => wait::pending_req_select,
    "fastly_http_req" "pending_req_select_v2" => wait::pending_req_select_v2,
    "fastly_cache" "transaction_lookup" => cache::transaction_lookup,
    "fastly_cache" "transaction_lookup_async" => cache::transaction_lookup_async,
    "fastly_cache" "cache_busy_handle_wait" => cache::busy_wait,
    "fastly_http_downstream" "next_request_wait" => next_request::next_request_wait,
    "fastly_http_cache" "get_state" => http_cache::get_state,
    taking whole bodies:
    "fastly_http_resp" "send_downstream" => http::resp_send_downstream, [1],
    "fastly_http_req" "send_async" => backend::send_async, [1],
    "fastly_http_req" "send_async_v2" => backend::send_async_v2, [1],
    "fastly_http_req" "send_async_streaming" => backend::send_async_streaming, [1],
    "fastly_kv_store" "insert" => kv::insert, [3],
}

/// Every call of the ABI, implemented or returning `unsupported`.
pub(crate) fn host_calls() -> &'static [HostCall<FastlyState>] {
    static CALLS: OnceLock<Vec<HostCall<FastlyState>>> = OnceLock::new();
    CALLS.get_or_init(|| {
        SIGNATURES
            .iter()
            .map(|&(module, name, params)| HostCall {
                module,
                name,
                params,
                call: call_of(module, name),
            })
            .collect()
    })
}

/// What a call with no meaning here returns.
fn unsupported(_: &mut FastlyState, _: &mut dyn GuestCx, _: &[u64]) -> i32 {
    Status::Unsupported as i32
}

fn call_of(module: &str, name: &str) -> Call {
    implementation(module, name).unwrap_or(unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_implemented_call_is_a_call_of_the_abi() {
        for &(module, name) in IMPLEMENTED {
            assert!(
                SIGNATURES.iter().any(|&(m, n, _)| (m, n) == (module, name)),
                "{module}.{name} is not in the ABI"
            );
        }
        assert_eq!(host_calls().len(), SIGNATURES.len());
    }
}
