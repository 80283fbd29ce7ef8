;; A WASI program: greets on stdout, prints argv[1] and $GREETING, then
;; creates out.txt in the preopened directory (descriptor 3) and writes
;; the greeting there. Exits with 0, or 100 + the errno of a failed call.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit"
    (func $proc_exit (param i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "hello from wasi\n")
  (data (i32.const 32) "out.txt")

  (func $check (param $errno i32)
    (if (local.get $errno)
      (then (call $proc_exit (i32.add (i32.const 100) (local.get $errno))))))

  ;; Writes len bytes at ptr to fd (the iovec at 100, nwritten at 108).
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 100) (local.get $ptr))
    (i32.store (i32.const 104) (local.get $len))
    (call $check
      (call $fd_write (local.get $fd) (i32.const 100) (i32.const 1) (i32.const 108))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $n))

  (func (export "_start")
    (call $write (i32.const 1) (i32.const 0) (i32.const 16))
    ;; argv pointers at 1000, strings at 2000
    (call $check (call $args_sizes_get (i32.const 200) (i32.const 204)))
    (call $check (call $args_get (i32.const 1000) (i32.const 2000)))
    (call $write (i32.const 1) (i32.load (i32.const 1004))
      (call $strlen (i32.load (i32.const 1004))))
    (call $write (i32.const 1) (i32.const 15) (i32.const 1))
    ;; environment pointers at 3000, strings at 4000: print the first
    (call $check (call $environ_sizes_get (i32.const 200) (i32.const 204)))
    (call $check (call $environ_get (i32.const 3000) (i32.const 4000)))
    (call $write (i32.const 1) (i32.load (i32.const 3000))
      (call $strlen (i32.load (i32.const 3000))))
    (call $write (i32.const 1) (i32.const 15) (i32.const 1))
    ;; path_open(3, 0, "out.txt", O_CREAT | O_TRUNC, FD_WRITE, 0, 0, &fd)
    (call $check
      (call $path_open (i32.const 3) (i32.const 0) (i32.const 32) (i32.const 7)
        (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 500)))
    (call $write (i32.load (i32.const 500)) (i32.const 0) (i32.const 16))
    (call $proc_exit (i32.const 0)))
)
