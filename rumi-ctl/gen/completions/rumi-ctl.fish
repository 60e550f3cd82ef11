# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rumi_ctl_global_optspecs
    string join \n home= url= token= json no-headers q/quiet env-file= h/help V/version
end

function __fish_rumi_ctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rumi_ctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rumi_ctl_using_subcommand
    set -l cmd (__fish_rumi_ctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -s V -l version -d 'Print version'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "token" -d 'Print the API token derived from the home\'s key file'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "health" -d 'Show the instance\'s health (all probes)'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "packs" -d 'Manage packs and their approval'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "network" -d 'Network grants (what rumi-egressd lets a pack reach)'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "capability" -d 'Capability handler candidates and capability grants'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "secrets" -d 'Secrets (values are read from stdin or a prompt, never from the command line)'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "stores" -d 'Stores and store shares'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "flows" -d 'Flows: list, run, reload'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "docker" -d 'Docker engine status and Rumi\'s containers'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "pip" -d 'pip dependencies (requirements.lock) of packs: scan, approve (installs), reject'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "routes" -d 'Pack routes (routes.json of approved packs)'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "units" -d 'Units: list, publish and execute'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "privileges" -d 'Host privileges of packs (pack.update, system.diagnostics, system.restart)'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "image" -d 'The runtime image that runs pack code in strict mode'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "setup" -d 'Set up, check, repair and start a home: with no command a menu on a terminal, with --web the same in a browser page'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "audit" -d 'Show the audit log, newest last; filter it, and follow new events with --follow'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "scaffold" -d 'Write a new pack skeleton to <output-dir>/<pack_id>/ (it validates and, once approved, runs)'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell), or write the bash, zsh and fish files into a directory'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "man" -d 'Print the manual page (roff) of rumi-ctl or of one command, or write every page into a directory'
complete -c rumi-ctl -n "__fish_rumi_ctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand token" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand token" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand token" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand token" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand token" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand token" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand token" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand token" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand health" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand health" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand health" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand health" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand health" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand health" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand health" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand health" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "list" -d 'List every installed pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "pending" -d 'List packs waiting for a decision (pending, modified)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "status" -d 'Show one pack in detail'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "scan" -d 'Rediscover packs and re-verify approved ones'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "approve" -d 'Approve a pack (hashes every file)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "reject" -d 'Reject (block) a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "uninstall" -d 'Uninstall a pack (its directory moves to user_data/backups/packs/)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "import" -d 'Stage a pack from a folder, .zip or .rumipack (nothing is installed yet)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "staging" -d 'List staged imports'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "apply" -d 'Install a staged pack (backs up and replaces an installed one of the same identity)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "discard" -d 'Remove a staged import'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and not __fish_seen_subcommand_from list pending status scan approve reject uninstall import staging apply discard help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from pending" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from pending" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from pending" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from pending" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from pending" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from pending" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from pending" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from pending" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from status" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from status" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from status" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from status" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from status" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from status" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from scan" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from scan" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from scan" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from scan" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from scan" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from scan" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from scan" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from scan" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from approve" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from approve" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from approve" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from approve" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from approve" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from approve" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from approve" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from approve" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -l reason -d 'Why the pack is rejected (recorded and audited)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from reject" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from uninstall" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from uninstall" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from uninstall" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from uninstall" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from uninstall" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from uninstall" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from uninstall" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from uninstall" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -l notes -d 'A note kept in the audit log' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from staging" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from staging" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from staging" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from staging" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from staging" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from staging" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from staging" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from staging" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from apply" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from apply" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from apply" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from apply" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from apply" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from apply" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from apply" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from discard" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from discard" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from discard" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from discard" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from discard" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from discard" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from discard" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from discard" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "list" -d 'List every installed pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "pending" -d 'List packs waiting for a decision (pending, modified)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show one pack in detail'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "scan" -d 'Rediscover packs and re-verify approved ones'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "approve" -d 'Approve a pack (hashes every file)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "reject" -d 'Reject (block) a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "uninstall" -d 'Uninstall a pack (its directory moves to user_data/backups/packs/)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "import" -d 'Stage a pack from a folder, .zip or .rumipack (nothing is installed yet)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "staging" -d 'List staged imports'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Install a staged pack (backs up and replaces an installed one of the same identity)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "discard" -d 'Remove a staged import'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand packs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -f -a "list" -d 'List every network grant'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -f -a "grant" -d 'Grant (or replace) a pack\'s network access'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -f -a "revoke" -d 'Disable a pack\'s network grant'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -f -a "check" -d 'Whether a pack may reach domain:port now'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and not __fish_seen_subcommand_from list grant revoke check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l domain -d 'Allowed domain: exact name, *.suffix, IP literal, or * (repeatable)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l port -d 'Allowed port; 0 means any (repeatable)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l notes -d 'A note recorded with the decision' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from grant" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -l reason -d 'Why (recorded in the audit log)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from check" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from check" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from check" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from check" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from check" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from check" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "list" -d 'List every network grant'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "grant" -d 'Grant (or replace) a pack\'s network access'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Disable a pack\'s network grant'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "check" -d 'Whether a pack may reach domain:port now'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "scan" -d 'Scan packs for capability handler candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "requests" -d 'List candidates, optionally by status (pending, installed, rejected, blocked, failed)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "approve" -d 'Approve a candidate (trust its sha256 and install it)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "reject" -d 'Reject a candidate (1 h cooldown; blocked at the third rejection)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "blocked" -d 'List blocked candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "unblock" -d 'Unblock a candidate (it returns to rejected with a fresh cooldown)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "grants" -d 'List capability grants'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "grant" -d 'Grant a permission to a principal'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "revoke" -d 'Revoke a permission from a principal'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and not __fish_seen_subcommand_from scan requests approve reject blocked unblock grants grant revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from scan" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from scan" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from scan" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from scan" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from scan" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from scan" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from scan" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from scan" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -l status -d 'Only candidates in this state' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from requests" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -l notes -d 'A note recorded with the decision' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from approve" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -l reason -d 'Why (recorded in the audit log)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from reject" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from blocked" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from blocked" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from blocked" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from blocked" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from blocked" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from blocked" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from blocked" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from blocked" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -l reason -d 'Why (recorded in the audit log)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from unblock" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -l principal -d 'Only this principal\'s grants (exact match)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grants" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -l config -d 'Grant config as a JSON object, e.g. \'{"allowed_store_ids":["notes"]}\'' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from grant" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from revoke" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from revoke" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from revoke" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from revoke" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from revoke" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from revoke" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "scan" -d 'Scan packs for capability handler candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "requests" -d 'List candidates, optionally by status (pending, installed, rejected, blocked, failed)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "approve" -d 'Approve a candidate (trust its sha256 and install it)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "reject" -d 'Reject a candidate (1 h cooldown; blocked at the third rejection)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "blocked" -d 'List blocked candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "unblock" -d 'Unblock a candidate (it returns to rejected with a fresh cooldown)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "grants" -d 'List capability grants'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "grant" -d 'Grant a permission to a principal'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a permission from a principal'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand capability; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -f -a "list" -d 'List keys (never values)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -f -a "set" -d 'Set a secret; the value is read from stdin (or a hidden prompt on a terminal)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -f -a "delete" -d 'Delete a secret (leaves a tombstone)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and not __fish_seen_subcommand_from list set delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from set" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from set" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from set" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from set" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from set" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from set" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from delete" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from delete" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from delete" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from delete" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from delete" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from delete" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "list" -d 'List keys (never values)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set a secret; the value is read from stdin (or a hidden prompt on a terminal)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a secret (leaves a tombstone)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -f -a "list" -d 'List stores'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -f -a "create" -d 'Create a store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -f -a "shared" -d 'List store shares'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -f -a "share-approve" -d 'Let target_pack use owner_pack\'s store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -f -a "share-revoke" -d 'Revoke a share'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and not __fish_seen_subcommand_from list create shared share-approve share-revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -l owner -d 'The pack that owns the store (default: none, an operator store)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from shared" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from shared" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from shared" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from shared" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from shared" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from shared" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from shared" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from shared" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-approve" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-approve" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-approve" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-approve" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-approve" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-approve" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-approve" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-approve" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-revoke" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-revoke" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-revoke" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-revoke" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-revoke" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-revoke" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-revoke" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from share-revoke" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from help" -f -a "list" -d 'List stores'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from help" -f -a "shared" -d 'List store shares'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from help" -f -a "share-approve" -d 'Let target_pack use owner_pack\'s store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from help" -f -a "share-revoke" -d 'Revoke a share'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand stores; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -f -a "list" -d 'List loaded flows and load problems'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -f -a "run" -d 'Run a flow and print its result'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -f -a "reload" -d 'Reload flows and modifiers from disk'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and not __fish_seen_subcommand_from list run reload help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -l inputs -d 'Inputs as a JSON object' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -l timeout -d 'Time budget in seconds (at most 600)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from reload" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from reload" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from reload" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from reload" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from reload" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from reload" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from reload" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from reload" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from help" -f -a "list" -d 'List loaded flows and load problems'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run a flow and print its result'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from help" -f -a "reload" -d 'Reload flows and modifiers from disk'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand flows; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -f -a "status" -d 'Whether the engine answers, and the image in use'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -f -a "containers" -d 'Containers Rumi is running'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -f -a "remove" -d 'Remove every container of a pack (its spares too)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -f -a "start" -d 'Check that a pack\'s sandbox starts now (no pack code runs); in strict mode this also warms the pack\'s spare containers'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and not __fish_seen_subcommand_from status containers remove start help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from status" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from status" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from status" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from status" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from status" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from status" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from containers" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from containers" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from containers" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from containers" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from containers" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from containers" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from containers" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from containers" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from remove" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from remove" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from remove" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from remove" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from remove" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from start" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from start" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from start" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from start" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from start" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from start" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from start" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from help" -f -a "status" -d 'Whether the engine answers, and the image in use'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from help" -f -a "containers" -d 'Containers Rumi is running'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove every container of a pack (its spares too)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from help" -f -a "start" -d 'Check that a pack\'s sandbox starts now (no pack code runs); in strict mode this also warms the pack\'s spare containers'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand docker; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -f -a "scan" -d 'Scan packs for requirements.lock files'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -f -a "list" -d 'List candidates, optionally by status (pending, installed, failed, rejected, blocked)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -f -a "approve" -d 'Approve a candidate: downloads and installs it in builder containers, then returns'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -f -a "reject" -d 'Reject a candidate (1 h cooldown; blocked at the third rejection)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -f -a "blocked" -d 'List blocked candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -f -a "unblock" -d 'Unblock a candidate (it returns to pending, its rejection count reset)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and not __fish_seen_subcommand_from scan list approve reject blocked unblock help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from scan" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from scan" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from scan" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from scan" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from scan" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from scan" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from scan" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from scan" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -l status -d 'Only candidates in this state' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -l index-url -d 'Package index (https, not an internal host). Default: https://pypi.org/simple' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -l allow-sdist -d 'Allow source distributions (default: wheels only)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from approve" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -l reason -d 'Why (recorded in the audit log)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from reject" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from blocked" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from blocked" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from blocked" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from blocked" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from blocked" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from blocked" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from blocked" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from blocked" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -l reason -d 'Why (recorded in the audit log)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from unblock" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from help" -f -a "scan" -d 'Scan packs for requirements.lock files'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from help" -f -a "list" -d 'List candidates, optionally by status (pending, installed, failed, rejected, blocked)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from help" -f -a "approve" -d 'Approve a candidate: downloads and installs it in builder containers, then returns'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from help" -f -a "reject" -d 'Reject a candidate (1 h cooldown; blocked at the third rejection)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from help" -f -a "blocked" -d 'List blocked candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from help" -f -a "unblock" -d 'Unblock a candidate (it returns to pending, its rejection count reset)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand pip; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -f -a "list" -d 'Pack routes and the diagnostics of the last load'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -f -a "reload" -d 'Reload flows, modifiers and pack routes'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and not __fish_seen_subcommand_from list reload help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from reload" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from reload" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from reload" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from reload" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from reload" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from reload" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from reload" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from reload" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from help" -f -a "list" -d 'Pack routes and the diagnostics of the last load'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from help" -f -a "reload" -d 'Reload flows, modifiers and pack routes'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand routes; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -f -a "list" -d 'List published units, optionally of one store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -f -a "publish" -d 'Publish a unit directory of an approved pack (its files\' sha256 become trusted)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -f -a "execute" -d 'Execute a unit for a principal pack; prints its output as JSON'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and not __fish_seen_subcommand_from list publish execute help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -l store-id -d 'Only the units of this store' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from publish" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from publish" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from publish" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from publish" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from publish" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from publish" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from publish" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from publish" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l args -d 'Arguments as a JSON object' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l mode -d 'pack_container (default) or sandbox' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l timeout -d 'Seconds, 1-300 (default 60)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from execute" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from help" -f -a "list" -d 'List published units, optionally of one store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from help" -f -a "publish" -d 'Publish a unit directory of an approved pack (its files\' sha256 become trusted)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from help" -f -a "execute" -d 'Execute a unit for a principal pack; prints its output as JSON'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand units; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -f -a "list" -d 'List every privilege and the packs holding it'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -f -a "grant" -d 'Grant a privilege to a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -f -a "revoke" -d 'Revoke a privilege from a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -f -a "execute" -d 'Execute a privilege on behalf of a pack that holds it'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and not __fish_seen_subcommand_from list grant revoke execute help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from list" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from list" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from list" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from list" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from list" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from grant" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from grant" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from grant" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from grant" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from grant" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from grant" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from grant" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from grant" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from revoke" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from revoke" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from revoke" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from revoke" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from revoke" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from revoke" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -l args -d 'Arguments as a JSON object, e.g. \'{"target_pack":"p","staging_id":"…"}\'' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from execute" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from help" -f -a "list" -d 'List every privilege and the packs holding it'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from help" -f -a "grant" -d 'Grant a privilege to a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a privilege from a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from help" -f -a "execute" -d 'Execute a privilege on behalf of a pack that holds it'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand privileges; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -f -a "build" -d 'Build the runtime image locally (debootstrap + docker import; no registry needed)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -l name -d 'Image name' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from build" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "build" -d 'Build the runtime image locally (debootstrap + docker import; no registry needed)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l port -d 'The web page\'s port (0 picks a free one)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l bind -d 'The web page\'s address. Default 127.0.0.1; any other address exposes the page (still behind its token) to the network' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l docker-socket -d 'The Docker engine\'s socket' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l image -d 'The runtime image strict mode uses' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l menu -d 'Show the menu even when stdin is not a terminal (choices are read line by line)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l web -d 'Serve the checks, init, doctor and recover as a browser page (Ctrl-C stops it)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -f -a "check" -d 'Check directories, key file modes, python3, the Docker engine and the runtime image. Exits 1 when an error is found; warnings do not change the exit code'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -f -a "init" -d 'Create a home: its directories, the instance key (0600) and an example pack `hello`. Never overwrites anything'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -f -a "doctor" -d 'Everything `check` does, plus the running instance (helpers, pending packs), the pending export, directory modes and leftovers; each problem with its fix'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -f -a "recover" -d 'Repair what can be repaired without losing data: modes of the settings and audit directories and key files, leftovers of interrupted writes, the pending export; with --restore-pack, the pack\'s latest backup back into ecosystem/'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -f -a "run" -d 'Check, init the home if it has no key yet, doctor, then start rumid for this home in the foreground (permissive, loudly, when no Docker engine answers)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and not __fish_seen_subcommand_from check init doctor recover run help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -l docker-socket -d 'The Docker engine\'s socket' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -l image -d 'The runtime image strict mode uses' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -l no-example -d 'Do not write the example pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -l docker-socket -d 'The Docker engine\'s socket' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -l image -d 'The runtime image strict mode uses' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from doctor" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -l restore-pack -d 'Move this pack\'s latest backup back into ecosystem/ (the current copy is backed up first); it then needs approval again' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from recover" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l docker-socket -d 'The Docker engine\'s socket' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l image -d 'The runtime image strict mode uses' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l port -d 'rumid\'s API port (0 picks a free one). Default: rumid\'s (RUMI_API_PORT, else 8765)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l mode -d 'How pack code runs. Default auto: strict when a Docker engine answers, else permissive (development only: pack code on the host)' -r -f -a "auto\t'Strict when a Docker engine answers, else permissive'
strict\t'Pack code only in containers'
permissive\t'Pack code on the host (development only)'"
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l force -d 'Start even when doctor finds errors'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check directories, key file modes, python3, the Docker engine and the runtime image. Exits 1 when an error is found; warnings do not change the exit code'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from help" -f -a "init" -d 'Create a home: its directories, the instance key (0600) and an example pack `hello`. Never overwrites anything'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from help" -f -a "doctor" -d 'Everything `check` does, plus the running instance (helpers, pending packs), the pending export, directory modes and leftovers; each problem with its fix'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from help" -f -a "recover" -d 'Repair what can be repaired without losing data: modes of the settings and audit directories and key files, leftovers of interrupted writes, the pending export; with --restore-pack, the pack\'s latest backup back into ecosystem/'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from help" -f -a "run" -d 'Check, init the home if it has no key yet, doctor, then start rumid for this home in the foreground (permissive, loudly, when no Docker engine answers)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand setup; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -s c -l category -d 'Only this category (approval, security, system, permission, network, flow_execution, modifier_application, python_file_call); repeatable' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -s p -l pack -d 'Only events about this pack: its owner_pack, or the pack_id, target_pack or principal (the pack or one of its sub-principals) in its details' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l action -d 'Only this action (pack_approved, auth_failed, network_request…)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l since -d 'Only events at or after WHEN: a duration back from now (90s, 10m, 2h, 7d) or a UTC time (2026-11-26, 2026-11-26T10:00:00Z)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -s n -l limit -d 'How many of the newest matching events to show first (0 with --follow: only new ones)' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l source -d 'Where to read: the home\'s audit files, rumid\'s API (the two newest days, at most 500 events), or auto: the files when they can be read and no --url is given' -r -f -a "auto\t'The files when they can be read, else the API'
files\t'`<home>/user_data/audit/*.jsonl`'
api\t'`GET /api/audit/recent`'"
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l failed -d 'Only events that failed or were refused (success false)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -s f -l follow -d 'Keep printing new events as they are written, until interrupted'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -l template -d 'What the skeleton holds' -r -f -a "minimal\t'`ecosystem.json` and one block'
capability\t'Minimal plus a capability handler candidate'
flow\t'Minimal plus a flow that runs the block'
full\t'Everything: block, flow, capability handler and an install lib script'"
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -l output-dir -d 'Parent directory of the new pack. Default: <home>/ecosystem' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand scaffold" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -l dir -d 'Write rumi-ctl.bash, _rumi-ctl and rumi-ctl.fish into DIR instead of printing' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -l dir -d 'Write rumi-ctl.1 and every rumi-ctl-COMMAND.1 into DIR instead of printing' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -l home -d 'Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in the units\' environment file, else /var/lib/rumi if it exists, else the working directory' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -l url -d 'API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -l token -d 'API token. Default: derived from <home>/user_data/settings/.hmac_key' -r
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -l env-file -d 'The environment file of the Rumi units, read for RUMI_HOME when no home is given' -r -F
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -l json -d 'Print machine-readable JSON instead of tables (errors too, on stdout)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -l no-headers -d 'Print tables without their header line'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -s q -l quiet -d 'Print only the first column (the ids) of lists, and nothing for commands that succeed'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand man" -s h -l help -d 'Print help'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "token" -d 'Print the API token derived from the home\'s key file'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "health" -d 'Show the instance\'s health (all probes)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "packs" -d 'Manage packs and their approval'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "network" -d 'Network grants (what rumi-egressd lets a pack reach)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "capability" -d 'Capability handler candidates and capability grants'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "secrets" -d 'Secrets (values are read from stdin or a prompt, never from the command line)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "stores" -d 'Stores and store shares'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "flows" -d 'Flows: list, run, reload'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "docker" -d 'Docker engine status and Rumi\'s containers'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "pip" -d 'pip dependencies (requirements.lock) of packs: scan, approve (installs), reject'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "routes" -d 'Pack routes (routes.json of approved packs)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "units" -d 'Units: list, publish and execute'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "privileges" -d 'Host privileges of packs (pack.update, system.diagnostics, system.restart)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "image" -d 'The runtime image that runs pack code in strict mode'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "setup" -d 'Set up, check, repair and start a home: with no command a menu on a terminal, with --web the same in a browser page'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "audit" -d 'Show the audit log, newest last; filter it, and follow new events with --follow'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "scaffold" -d 'Write a new pack skeleton to <output-dir>/<pack_id>/ (it validates and, once approved, runs)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell), or write the bash, zsh and fish files into a directory'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "man" -d 'Print the manual page (roff) of rumi-ctl or of one command, or write every page into a directory'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and not __fish_seen_subcommand_from token health packs network capability secrets stores flows docker pip routes units privileges image setup audit scaffold completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "list" -d 'List every installed pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "pending" -d 'List packs waiting for a decision (pending, modified)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "status" -d 'Show one pack in detail'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "scan" -d 'Rediscover packs and re-verify approved ones'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "approve" -d 'Approve a pack (hashes every file)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "reject" -d 'Reject (block) a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "uninstall" -d 'Uninstall a pack (its directory moves to user_data/backups/packs/)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "import" -d 'Stage a pack from a folder, .zip or .rumipack (nothing is installed yet)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "staging" -d 'List staged imports'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "apply" -d 'Install a staged pack (backs up and replaces an installed one of the same identity)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from packs" -f -a "discard" -d 'Remove a staged import'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "list" -d 'List every network grant'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "grant" -d 'Grant (or replace) a pack\'s network access'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "revoke" -d 'Disable a pack\'s network grant'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "check" -d 'Whether a pack may reach domain:port now'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "scan" -d 'Scan packs for capability handler candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "requests" -d 'List candidates, optionally by status (pending, installed, rejected, blocked, failed)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "approve" -d 'Approve a candidate (trust its sha256 and install it)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "reject" -d 'Reject a candidate (1 h cooldown; blocked at the third rejection)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "blocked" -d 'List blocked candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "unblock" -d 'Unblock a candidate (it returns to rejected with a fresh cooldown)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "grants" -d 'List capability grants'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "grant" -d 'Grant a permission to a principal'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from capability" -f -a "revoke" -d 'Revoke a permission from a principal'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from secrets" -f -a "list" -d 'List keys (never values)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from secrets" -f -a "set" -d 'Set a secret; the value is read from stdin (or a hidden prompt on a terminal)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from secrets" -f -a "delete" -d 'Delete a secret (leaves a tombstone)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from stores" -f -a "list" -d 'List stores'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from stores" -f -a "create" -d 'Create a store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from stores" -f -a "shared" -d 'List store shares'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from stores" -f -a "share-approve" -d 'Let target_pack use owner_pack\'s store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from stores" -f -a "share-revoke" -d 'Revoke a share'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from flows" -f -a "list" -d 'List loaded flows and load problems'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from flows" -f -a "run" -d 'Run a flow and print its result'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from flows" -f -a "reload" -d 'Reload flows and modifiers from disk'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from docker" -f -a "status" -d 'Whether the engine answers, and the image in use'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from docker" -f -a "containers" -d 'Containers Rumi is running'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from docker" -f -a "remove" -d 'Remove every container of a pack (its spares too)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from docker" -f -a "start" -d 'Check that a pack\'s sandbox starts now (no pack code runs); in strict mode this also warms the pack\'s spare containers'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from pip" -f -a "scan" -d 'Scan packs for requirements.lock files'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from pip" -f -a "list" -d 'List candidates, optionally by status (pending, installed, failed, rejected, blocked)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from pip" -f -a "approve" -d 'Approve a candidate: downloads and installs it in builder containers, then returns'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from pip" -f -a "reject" -d 'Reject a candidate (1 h cooldown; blocked at the third rejection)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from pip" -f -a "blocked" -d 'List blocked candidates'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from pip" -f -a "unblock" -d 'Unblock a candidate (it returns to pending, its rejection count reset)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from routes" -f -a "list" -d 'Pack routes and the diagnostics of the last load'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from routes" -f -a "reload" -d 'Reload flows, modifiers and pack routes'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from units" -f -a "list" -d 'List published units, optionally of one store'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from units" -f -a "publish" -d 'Publish a unit directory of an approved pack (its files\' sha256 become trusted)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from units" -f -a "execute" -d 'Execute a unit for a principal pack; prints its output as JSON'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from privileges" -f -a "list" -d 'List every privilege and the packs holding it'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from privileges" -f -a "grant" -d 'Grant a privilege to a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from privileges" -f -a "revoke" -d 'Revoke a privilege from a pack'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from privileges" -f -a "execute" -d 'Execute a privilege on behalf of a pack that holds it'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "build" -d 'Build the runtime image locally (debootstrap + docker import; no registry needed)'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from setup" -f -a "check" -d 'Check directories, key file modes, python3, the Docker engine and the runtime image. Exits 1 when an error is found; warnings do not change the exit code'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from setup" -f -a "init" -d 'Create a home: its directories, the instance key (0600) and an example pack `hello`. Never overwrites anything'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from setup" -f -a "doctor" -d 'Everything `check` does, plus the running instance (helpers, pending packs), the pending export, directory modes and leftovers; each problem with its fix'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from setup" -f -a "recover" -d 'Repair what can be repaired without losing data: modes of the settings and audit directories and key files, leftovers of interrupted writes, the pending export; with --restore-pack, the pack\'s latest backup back into ecosystem/'
complete -c rumi-ctl -n "__fish_rumi_ctl_using_subcommand help; and __fish_seen_subcommand_from setup" -f -a "run" -d 'Check, init the home if it has no key yet, doctor, then start rumid for this home in the foreground (permissive, loudly, when no Docker engine answers)'
