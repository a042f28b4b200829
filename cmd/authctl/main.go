// Command authctl is the operator's tool: it migrates the database and submits artworks to
// ingest, optionally waiting for their results and printing them as a table.
//
//	authctl migrate [-to N]
//	authctl submit -artist monet [-wait] FILE...
//	authctl status SUBMISSION_ID
//	authctl events setup|delete
//	authctl models register|activate|rollback|list
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `usage: authctl <command> [flags]

commands:
  migrate   apply (or with -to N, revert to) database migrations
  submit    upload images to ingest; -wait prints their results as a table
  status    print a submission as JSON
  events    create (setup) or delete the JetStream streams and consumers
  eval      score a model on labelled image folders; print the confusion matrix and AI rates
  attribution  rank held-out images of several artists with their models; print how often
            the true artist comes first
  models    register, activate, roll back and list model versions
  references  register known works for near-duplicate detection

Run "authctl <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "migrate":
		err = migrateCmd(args)
	case "submit":
		err = submitCmd(args)
	case "status":
		err = statusCmd(args)
	case "events":
		err = eventsCmd(args)
	case "eval":
		err = evalCmd(args)
	case "attribution":
		err = attributionCmd(args)
	case "models":
		err = modelsCmd(args)
	case "references":
		err = referencesCmd(args)
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "authctl: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "authctl:", err)
		os.Exit(1)
	}
}
