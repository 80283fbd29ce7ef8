;; A command component written by hand, to drive the host's canonical ABI
;; where the toolchains' components do not go. It prints its arguments
;; one per line through `wasi:io/streams`, after a first argument that
;; says how to misbehave:
;;   ok         nothing more
;;   drop-twice drops its stdout handle twice
;;   wild       writes bytes from a pointer past the end of memory
;;   stolen     writes through a handle it never had
;;   mistyped   drops its stdout as if it were an input stream
;;   trap       reaches `unreachable` in a function named `explode`
;;   post-trap  returns, and its post-return function, told so, reaches
;;              `unreachable` in a function named `after`
;; The post-return function also traps unless it is given what `run`
;; returned.
(component
  (type $streams-type (instance
    (export "output-stream" (type $os (sub resource)))
    (export "input-stream" (type $is (sub resource)))
    (type $err (variant (case "last-operation-failed" u32) (case "closed")))
    (export "stream-error" (type $stream-error (eq $err)))
    (type $res (result (error $stream-error)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $os)) (param "contents" (list u8)) (result $res)))
  ))
  (import "wasi:io/streams@0.2.6" (instance $streams (type $streams-type)))
  (alias export $streams "output-stream" (type $os))
  (alias export $streams "input-stream" (type $is))
  (import "wasi:cli/stdout@0.2.6" (instance $stdout
    (alias outer 1 $os (type $os))
    (type $own (own $os))
    (export "get-stdout" (func (result $own)))
  ))
  (import "wasi:cli/environment@0.2.6" (instance $env
    (export "get-arguments" (func (result (list string))))
  ))

  ;; Memory and the guest's allocator come first: the lowered functions
  ;; need them, and the program needs the lowered functions.
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
    (memory $memory) (realloc $realloc)))
  (core func $drop-output (canon resource.drop $os))
  (core func $drop-input (canon resource.drop $is))
  (core instance $host
    (export "get-stdout" (func $get-stdout))
    (export "write" (func $write))
    (export "get-arguments" (func $get-arguments))
    (export "drop-output" (func $drop-output))
    (export "drop-input" (func $drop-input)))

  (core module $program
    (import "host" "get-stdout" (func $get-stdout (result i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "get-arguments" (func $get-arguments (param i32)))
    (import "host" "drop-output" (func $drop-output (param i32)))
    (import "host" "drop-input" (func $drop-input (param i32)))
    (import "mem" "memory" (memory 1))
    (data (i32.const 8) "\n")
    (func $explode unreachable)
    (func $after unreachable)
    (global $trap-after (mut i32) (i32.const 0))
    (func (export "post-run") (param $returned i32)
      (if (local.get $returned) (then unreachable))
      (if (global.get $trap-after) (then (call $after))))
    ;; Whether argument 1 (at `$args`) starts with `c`.
    (func $mode (param $args i32) (param $c i32) (result i32)
      (i32.eq
        (i32.load8_u (i32.load offset=8 (local.get $args)))
        (local.get $c)))
    (func (export "run") (result i32)
      (local $out i32) (local $list i32) (local $n i32) (local $i i32) (local $e i32)
      (local.set $out (call $get-stdout))
      ;; The list of arguments lands at 16 (pointer, length).
      (call $get-arguments (i32.const 16))
      (local.set $list (i32.load (i32.const 16)))
      (local.set $n (i32.load (i32.const 20)))
      (local.set $i (i32.const 1))
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (local.set $e (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 3))))
          (call $write (local.get $out)
            (i32.load (local.get $e)) (i32.load offset=4 (local.get $e)) (i32.const 32))
          (call $write (local.get $out) (i32.const 8) (i32.const 1) (i32.const 32))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $each)))
      (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (i32.const 0))))
      ;; "drop-twice"
      (if (call $mode (local.get $list) (i32.const 100))
        (then (call $drop-output (local.get $out)) (call $drop-output (local.get $out))))
      ;; "wild"
      (if (call $mode (local.get $list) (i32.const 119))
        (then (call $write (local.get $out) (i32.const 0xfffffff0) (i32.const 100) (i32.const 32))))
      ;; "stolen"
      (if (call $mode (local.get $list) (i32.const 115))
        (then (call $write (i32.const 12345) (i32.const 8) (i32.const 1) (i32.const 32))))
      ;; "mistyped"
      (if (call $mode (local.get $list) (i32.const 109))
        (then (call $drop-input (local.get $out))))
      ;; "trap"
      (if (call $mode (local.get $list) (i32.const 116))
        (then (call $explode)))
      ;; "post-trap"
      (if (call $mode (local.get $list) (i32.const 112))
        (then (global.set $trap-after (i32.const 1))))
      (i32.const 0))
  )
  (core instance $main (instantiate $program
    (with "host" (instance $host))
    (with "mem" (instance $mem))))

  (alias core export $main "post-run" (core func $post-run))
  (func $run (result (result))
    (canon lift (core func $main "run") (post-return $post-run)))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.6" (instance $run-instance))
)
