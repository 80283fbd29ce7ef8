;; A command component written by hand whose `get-arguments` is lowered
;; with the string encoding the test writes in place of ENCODING
;; (`string-encoding=utf16`, `string-encoding=latin1+utf16`). It writes
;; its first argument as the host stored it: the length word (4 bytes,
;; little-endian), then the string's bytes.
(component
  (type $streams-type (instance
    (export "output-stream" (type $os (sub resource)))
    (type $err (variant (case "last-operation-failed" u32) (case "closed")))
    (export "stream-error" (type $stream-error (eq $err)))
    (type $res (result (error $stream-error)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $os)) (param "contents" (list u8)) (result $res)))
  ))
  (import "wasi:io/streams@0.2.6" (instance $streams (type $streams-type)))
  (alias export $streams "output-stream" (type $os))
  (import "wasi:cli/stdout@0.2.6" (instance $stdout
    (alias outer 1 $os (type $os))
    (type $own (own $os))
    (export "get-stdout" (func (result $own)))
  ))
  (import "wasi:cli/environment@0.2.6" (instance $env
    (export "get-arguments" (func (result (list string))))
  ))

  (core module $memory-module
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
  )
  (core instance $mem (instantiate $memory-module))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))

  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $write (canon lower
    (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $memory)))
  (core func $get-arguments (canon lower (func $env "get-arguments")
    (memory $memory) (realloc $realloc) ENCODING))
  (core instance $host
    (export "get-stdout" (func $get-stdout))
    (export "write" (func $write))
    (export "get-arguments" (func $get-arguments)))

  (core module $program
    (import "host" "get-stdout" (func $get-stdout (result i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "get-arguments" (func $get-arguments (param i32)))
    (import "mem" "memory" (memory 1))
    (func (export "run") (result i32)
      (local $out i32) (local $entry i32) (local $len i32) (local $bytes i32)
      (local.set $out (call $get-stdout))
      (call $get-arguments (i32.const 16))
      ;; Argument 1: (pointer, length) at list + 8.
      (local.set $entry (i32.add (i32.load (i32.const 16)) (i32.const 8)))
      (local.set $len (i32.load offset=4 (local.get $entry)))
      ;; UTF-16 (tagged, or not): 2 bytes a unit; else 1 byte a character.
      (local.set $bytes
        (if (result i32) (i32.and (local.get $len) (i32.const 0x80000000))
          (then (i32.shl (i32.and (local.get $len) (i32.const 0x7fffffff)) (i32.const 1)))
          (else
            (if (result i32) (i32.load (i32.const 8))
              (then (i32.shl (local.get $len) (i32.const 1)))
              (else (local.get $len))))))
      (call $write (local.get $out) (i32.add (local.get $entry) (i32.const 4)) (i32.const 4)
        (i32.const 32))
      (call $write (local.get $out) (i32.load (local.get $entry)) (local.get $bytes)
        (i32.const 32))
      (i32.const 0))
    ;; Whether lengths count 2-byte units even untagged (plain UTF-16):
    ;; the test writes \01 for it in place of UTF16, else \00.
    (data (i32.const 8) "UTF16")
  )
  (core instance $main (instantiate $program
    (with "host" (instance $host))
    (with "mem" (instance $mem))))

  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.6" (instance $run-instance))
)
