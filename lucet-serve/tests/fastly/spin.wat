;; A Compute app that computes for 2 s of wall-clock time (a loop reading
;; WASI's monotonic clock, no call that waits), then answers `spun`.
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream"
    (func $send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write"
    (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: response, 4: body, 8: nwritten, 16: the clock, 64: "spun".
  (data (i32.const 64) "spun")
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 16)))
    (i64.load (i32.const 16)))
  (func (export "_start")
    (local $until i64)
    (local.set $until (i64.add (call $now) (i64.const 2_000_000_000)))
    (loop $spin
      (br_if $spin (i64.lt_u (call $now) (local.get $until))))
    (drop (call $resp_new (i32.const 0)))
    (drop (call $body_new (i32.const 4)))
    (drop (call $body_write (i32.load (i32.const 4)) (i32.const 64)
      (i32.const 4) (i32.const 0) (i32.const 8)))
    (drop (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4))
      (i32.const 0)))))
