#!/bin/sh
# Prints the variables mod_shib exports (REMOTE_USER, the mapped attributes, Shib-*).
printf 'Content-Type: text/html; charset=utf-8\r\n\r\n'
printf '<!DOCTYPE html><html><head><title>SP</title></head><body><h1 id="sp-page">Protected by Shibboleth</h1><pre id="env">'
env | LC_ALL=C sort | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'
printf '</pre></body></html>\n'
